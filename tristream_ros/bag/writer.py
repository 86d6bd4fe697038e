"""Write rosbag2 bags that real `ros2 bag play` (Jazzy, Kilted) and `tristream bag play` read.

rosbags' Writer needs an explicit format ``version`` (8 = Jazzy, 9 = Kilted); we default to 8,
which both read. Messages are written as serialized CDR bytes.
"""
from __future__ import annotations

from pathlib import Path

from tristream_ros.errors import InputError

DEFAULT_VERSION = 8  # rosbag2 metadata version: 8 is read by Jazzy and newer
STORAGES = ("sqlite3", "mcap")


def qos_profile(reliable: bool = True, transient_local: bool = False, depth: int = 10):
    """A rosbags Qos tuple for `offered_qos_profiles` (what the recorded publisher offered)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth,
               QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
               zero, zero, QosLiveliness.AUTOMATIC, zero, False)


class BagWriter:
    """Context manager: ``with BagWriter(path) as w: w.write("/t", "std_msgs/msg/String", ts_ns, cdr)``."""

    def __init__(self, path: str | Path, storage: str = "sqlite3", version: int = DEFAULT_VERSION):
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise InputError(f"unsupported bag storage {storage!r}; expected one of {STORAGES}")
        if version not in (8, 9):
            raise InputError(f"unsupported rosbag2 version {version!r}; expected 8 or 9")
        self.path = Path(path)
        if self.path.exists():
            raise InputError(f"bag path {str(self.path)!r} exists already; choose a new folder")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=version, storage_plugin=plugin)
        self._conns: dict[str, object] = {}
        self._types: dict[str, str] = {}

    def __enter__(self) -> "BagWriter":
        # rosbag2 (v6+) decodes custom_data as a map; rosbags writes `null` when it is empty,
        # which yaml-cpp refuses to convert, so always store one entry.
        self._writer.set_custom_data("recorded_by", "tristream_ros")
        self._writer.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._writer.storage is not None:
            self._writer.close()

    def add_topic(self, topic: str, msgtype: str, offered_qos: list | None = None) -> None:
        """Register ``topic`` with type ``msgtype`` ("pkg/msg/Name"); must be a known type."""
        from tristream_ros.bag.typestore import typestore

        msgtype = normalize_type(msgtype)
        if topic in self._conns:
            if self._types[topic] != msgtype:
                raise InputError(f"topic {topic!r} already recorded as {self._types[topic]}, not {msgtype}")
            return
        store = typestore()
        if msgtype not in store.fielddefs:
            raise InputError(f"message type {msgtype!r} of topic {topic!r} is unknown to the bag typestore")
        self._conns[topic] = self._writer.add_connection(
            topic, msgtype, typestore=store, offered_qos_profiles=offered_qos or [qos_profile()])
        self._types[topic] = msgtype

    def write(self, topic: str, msgtype: str, timestamp_ns: int, data: bytes) -> None:
        if topic not in self._conns:
            self.add_topic(topic, msgtype)
        self._writer.write(self._conns[topic], int(timestamp_ns), data)


def normalize_type(msgtype: str) -> str:
    """"std_msgs/String" or "std_msgs/msg/String" -> "std_msgs/msg/String"."""
    parts = msgtype.split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    if len(parts) == 3:
        return msgtype
    raise InputError(f"message type {msgtype!r} is not of the form pkg/msg/Name")
