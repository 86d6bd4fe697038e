"""Read rosbag2 bags (sqlite3 or mcap, as written by real `ros2 bag record`) without ROS.

Messages stay serialized (CDR bytes), so playback republishes them untouched; ``decode``
turns one into a rosbags dataclass when a tool needs the fields.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tristream_ros.errors import InputError


@dataclass(frozen=True)
class TopicSummary:
    name: str
    msgtype: str  # e.g. "std_msgs/msg/String"
    count: int
    offered_qos: list = field(default_factory=list)  # rosbags Qos tuples as recorded


@dataclass(frozen=True)
class BagInfo:
    path: str
    storage: str  # "sqlite3" | "mcap"
    version: int | None
    start_ns: int
    duration_ns: int
    message_count: int
    topics: list[TopicSummary]

    def format(self) -> str:
        """Human-readable summary in the spirit of `ros2 bag info`."""
        lines = [
            f"Files:             {self.path}",
            f"Storage id:        {self.storage}",
            f"Bag version:       {self.version}",
            f"Duration:          {self.duration_ns / 1e9:.3f} s",
            f"Start:             {self.start_ns / 1e9:.3f} (ns {self.start_ns})",
            f"Messages:          {self.message_count}",
            "Topic information:",
        ]
        width = max((len(t.name) for t in self.topics), default=0)
        lines += [f"  {t.name:<{width}}  {t.msgtype}  count {t.count}" for t in self.topics]
        return "\n".join(lines)


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"bag path {str(p)!r} does not exist")
    if p.is_dir() and not (p / "metadata.yaml").is_file():
        raise InputError(f"bag path {str(p)!r} is not a rosbag2 bag (no metadata.yaml inside)")
    if p.is_file() and p.suffix not in (".db3", ".mcap"):
        raise InputError(f"bag path {str(p)!r} is not a rosbag2 bag (expected a folder, .db3 or .mcap)")
    return p


def _metadata(p: Path) -> dict:
    """metadata.yaml's `rosbag2_bagfile_information` ({} for a single storage file)."""
    if not p.is_dir():
        return {}
    import yaml

    try:
        return dict(yaml.safe_load((p / "metadata.yaml").read_text())["rosbag2_bagfile_information"])
    except Exception:
        return {}


def open_reader(path: str | Path):
    """An opened rosbags Reader; InputError (naming the path) when it is missing or not a bag."""
    from rosbags.rosbag2 import Reader

    p = _check_path(path)
    try:
        reader = Reader(p)
        reader.open()
    except InputError:
        raise
    except Exception as exc:  # ReaderError, YAML errors, sqlite errors, ...
        raise InputError(f"bag path {str(p)!r} is not a readable rosbag2 bag: {exc}") from None
    return reader


def bag_info(path: str | Path) -> BagInfo:
    reader = open_reader(path)
    try:
        meta = _metadata(Path(path))
        storage = meta.get("storage_identifier") or ("mcap" if str(path).endswith(".mcap") else "sqlite3")
        version = meta.get("version")
        topics = [
            TopicSummary(name, info.msgtype or "?", info.msgcount,
                         [q for c in info.connections for q in getattr(c.ext, "offered_qos_profiles", [])])
            for name, info in sorted(reader.topics.items())
        ]
        return BagInfo(str(path), storage, version, reader.start_time, reader.duration, reader.message_count, topics)
    finally:
        reader.close()


@dataclass(frozen=True)
class RawMessage:
    topic: str
    msgtype: str
    timestamp_ns: int  # recording time (receive time in `ros2 bag record`)
    data: bytes  # CDR, as published


def _storages(reader) -> list:
    """The per-file storage readers behind a rosbags Reader (a folder has several)."""
    return list(getattr(reader.storage, "storages", None) or [reader.storage])


def iter_messages(path: str | Path, topics: Sequence[str] | None = None) -> Iterator[RawMessage]:
    """Serialized messages in timestamp order (file by file), optionally only ``topics``.

    Reads each storage file with *its own* connection table: rosbags' folder reader matches
    metadata.yaml connections to storage connections by QoS equality, and real rosbag2 bags
    store "infinite" deadlines differently in the two places (0 vs 2147483647 s), so the
    folder-level ``messages()`` silently yields nothing for them (seen with ../shared bags).
    """
    reader = open_reader(path)
    try:
        known = sorted({c.topic for c in reader.connections})
        if topics:
            missing = sorted(set(topics) - set(known))
            if missing:
                raise InputError(f"topic(s) {missing} not in bag {str(path)!r}; it has {known}")
        decompress = None
        if getattr(getattr(reader.storage, "metadata", None), "compression_mode", None) == "message":
            from rosbags.rosbag2.reader import zstd  # the zstd module rosbags itself uses

            decompress = zstd.decompress
        for storage in _storages(reader):
            conns = [c for c in storage.connections if not topics or c.topic in topics]
            if not conns:
                continue
            for conn, ts, raw in storage.messages(conns, None, None):
                data = decompress(raw) if decompress else bytes(raw)
                yield RawMessage(conn.topic, conn.msgtype, ts, data)
    finally:
        reader.close()


def decode(msg: RawMessage):
    """Deserialize one message into a rosbags dataclass (standard types + ours)."""
    from tristream_ros.bag.typestore import typestore

    return typestore().deserialize_cdr(msg.data, msg.msgtype)
