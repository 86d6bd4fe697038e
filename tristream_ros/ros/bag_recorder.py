"""Record topics into a rosbag2 bag (rclpy raw subscriptions -> rosbags writer).

Topics are discovered from the graph (their types come from the publishers), so only a
topic name list (or "all") is needed. QoS follows the publishers: reliable if all offer
reliable, transient_local if all do. Messages are stored as received CDR with their
receive time, like `ros2 bag record`; the bag is closed (metadata.yaml written) on stop.
"""
from __future__ import annotations

import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from tristream_ros.bag.writer import BagWriter, qos_profile
from tristream_ros.errors import InputError
from tristream_ros.ros.diagnostics import Diagnostics


class BagRecorderNode(Node):
    def __init__(self, path: str | Path, topics: list[str] | None = None, storage: str = "sqlite3",
                 version: int = 8, max_messages: int = 0, exclude: tuple[str, ...] = ("/parameter_events",)):
        super().__init__("bag_recorder")
        self.writer = BagWriter(path, storage, version)  # InputError when the path exists
        self.writer.__enter__()
        self.path = Path(path)
        self.topics = [self._absolute(t) for t in topics] if topics else None
        self.exclude = set(exclude)
        self.max_messages = max_messages
        self.count = 0
        self._subs: dict[str, object] = {}
        self._closed = False
        self.diag = Diagnostics(self, "bag recording", hardware_id=str(path))
        self.create_timer(0.2, self._discover)
        self._discover()

    def _absolute(self, topic: str) -> str:
        return self.resolve_topic_name(topic)

    @property
    def finished(self) -> bool:
        return self._closed or (self.max_messages > 0 and self.count >= self.max_messages)

    def _discover(self) -> None:
        if self._closed:
            return
        for name, types in self.get_topic_names_and_types():
            if name in self._subs or name in self.exclude or (self.topics is not None and name not in self.topics):
                continue
            if name == "/rosout" and self.topics is None:
                continue  # our own log output would feed back into the bag
            msgtype = types[0]
            infos = self.get_publishers_info_by_topic(name)
            if not infos:
                continue
            reliable = all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
            latched = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
            try:
                self.writer.add_topic(name, msgtype, [qos_profile(reliable, latched)])
            except InputError as exc:
                self.diag.error(f"not recording {name}: {exc}", key="skipped_topics")
                self._subs[name] = None
                continue
            try:
                from tristream_ros.ros.bag_player import message_class

                cls = message_class(msgtype)
            except InputError as exc:
                self.diag.error(f"not recording {name}: {exc}", key="skipped_topics")
                self._subs[name] = None
                continue
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                             reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
            self._subs[name] = self.create_subscription(
                cls, name, lambda data, n=name, t=msgtype: self._on_message(n, t, data), qos, raw=True)
            self.get_logger().info(f"recording {name} [{msgtype}]")

    def _on_message(self, topic: str, msgtype: str, data: bytes) -> None:
        if self.finished:
            return
        self.writer.write(topic, msgtype, self.get_clock().now().nanoseconds, data)
        self.count += 1
        self.diag.count("messages_in")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.writer.close()
            self.get_logger().info(f"wrote {self.count} messages to {self.path}")


def record(path: str, topics: list[str] | None, storage: str = "sqlite3", version: int = 8, duration_s: float = 0.0,
           max_messages: int = 0) -> int:
    """Run a recorder until Ctrl-C, ``duration_s`` or ``max_messages``; returns messages written."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    node = BagRecorderNode(path, topics, storage, version, max_messages)
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    try:
        while rclpy.ok() and not node.finished and (deadline is None or time.monotonic() < deadline):
            rclpy.spin_once(node, timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()
        n = node.count
        node.destroy_node()
    return n
