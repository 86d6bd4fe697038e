"""Play rosbag2 bags over rclpy: raw CDR republished with the recorded timing.

``BagPlayer.play(path)`` plays one bag (rate factor, loop, topic filter, optional /clock)
and raises InputError for a missing / non-bag path. ``BagPlayerNode`` additionally serves
requests: each std_msgs/String on ``~/play`` (a bag path) is played in turn; a bad path is
logged and reported on /diagnostics and the node keeps serving.
"""
from __future__ import annotations

import importlib
import queue
import threading
import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

from tristream_ros.bag.playback import PlaybackOptions, paced
from tristream_ros.bag.reader import bag_info, iter_messages
from tristream_ros.errors import InputError
from tristream_ros.ros.conversions import ns_to_stamp
from tristream_ros.ros.diagnostics import Diagnostics


def message_class(msgtype: str):
    """"std_msgs/msg/String" -> the rclpy message class; InputError when not importable."""
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise InputError(f"message type {msgtype!r} is not of the form pkg/msg/Name")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.{parts[1]}"), parts[2])
    except (ImportError, AttributeError):
        raise InputError(f"message type {msgtype!r} is not importable in this environment") from None


def qos_for(offered: list) -> QoSProfile:
    """Publisher QoS matching what the recorded publishers offered (rosbags Qos tuples)."""
    from rosbags.interfaces import QosDurability, QosReliability

    reliable = not offered or all(q.reliability != QosReliability.BEST_EFFORT for q in offered)
    latched = bool(offered) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


SUBSCRIBER_SETTLE_S = 0.5  # s to wait after subscribers are counted, before the first message
ACK_TIMEOUT_S = 3.0  # s to wait, after the last message, for reliable subscribers to acknowledge


class BagPlayer:
    """Publishes a bag's messages through ``node`` (creates publishers on demand)."""

    def __init__(self, node: Node, options: PlaybackOptions = PlaybackOptions(), diag: Diagnostics | None = None):
        self.node, self.options, self.diag = node, options, diag
        self._pubs: dict[tuple[str, str], object] = {}
        self._clock_pub = None
        if options.clock:
            self._clock_pub = node.create_publisher(
                Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _publisher(self, topic: str, msgtype: str, offered: list):
        key = (topic, msgtype)
        if key not in self._pubs:
            self._pubs[key] = self.node.create_publisher(message_class(msgtype), topic, qos_for(offered))
        return self._pubs[key]

    def _publish_clock(self, bag_ns: int) -> None:
        if self._clock_pub is not None:
            self._clock_pub.publish(Clock(clock=ns_to_stamp(bag_ns)))

    def play(self, path: str | Path) -> int:
        """Play ``path`` once (or forever with ``loop``); returns messages published."""
        info = bag_info(path)  # InputError for missing / not-a-bag paths
        opts = self.options
        wanted = set(opts.topics) if opts.topics else None
        if wanted:
            missing = sorted(wanted - {t.name for t in info.topics})
            if missing:
                raise InputError(f"topic(s) {missing} not in bag {str(path)!r}; it has {[t.name for t in info.topics]}")
        playable = []
        for t in info.topics:
            if (wanted and t.name not in wanted) or t.count == 0:
                continue
            try:
                self._publisher(t.name, t.msgtype, t.offered_qos)
                playable.append(t.name)
            except InputError as exc:
                self.node.get_logger().warning(f"skipping topic {t.name}: {exc}")
                if self.diag:
                    self.diag.drop(n=t.count)
        if not playable:
            raise InputError(f"bag {str(path)!r} has no playable messages for topics {sorted(wanted or [])}")
        self._wait_for_subscribers(playable)
        if opts.start_delay_s > 0:
            time.sleep(opts.start_delay_s)
        self.node.get_logger().info(f"playing {path} ({info.message_count} messages, {info.duration_ns / 1e9:.2f} s) "
                                    f"at rate {opts.rate:g}: {', '.join(playable)}")
        published = 0
        try:
            while not self._stop.is_set():
                msgs = iter_messages(path, playable)
                for m in paced(msgs, opts.rate, idle=self._publish_clock if self._clock_pub else None,
                               idle_period_s=1.0 / opts.clock_hz):
                    if self._stop.is_set():
                        break
                    self._publish_clock(m.timestamp_ns)
                    self._pubs[(m.topic, m.msgtype)].publish(m.data)  # raw CDR, no decoding
                    published += 1
                    if self.diag:
                        self.diag.count("messages_out")
                if not opts.loop:
                    break
        except Exception:
            # Ctrl-C: rclpy's signal handler shuts the context down, and a publish racing with it
            # raises RCLError ("publisher's context is invalid"). That is a stop, not a failure.
            if self.node.context.ok():
                raise
            self.node.get_logger().info(f"stopped by shutdown after {published} messages")
            return published
        self._wait_for_acks()
        return published

    def _wait_for_acks(self) -> None:
        """Block until reliable subscribers acknowledged every message (as `ros2 bag play
        --wait-for-all-acked`): a player that exits right after its last publish destroys its
        writers while samples are still unacknowledged, and a busy reader loses them."""
        from rclpy.duration import Duration

        late = [p.topic_name for p in self._pubs.values()
                if not p.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))]
        if late:
            self.node.get_logger().warning(f"subscribers of {late} did not acknowledge every message "
                                           f"within {ACK_TIMEOUT_S:g} s")

    def _wait_for_subscribers(self, topics: list[str]) -> None:
        n = self.options.wait_for_subscribers
        if n <= 0:
            return
        deadline = time.monotonic() + self.options.wait_timeout_s
        pubs = [p for (topic, _), p in self._pubs.items() if topic in topics]
        while time.monotonic() < deadline and not all(p.get_subscription_count() >= n for p in pubs):
            time.sleep(0.02)
        short = [p.topic_name for p in pubs if p.get_subscription_count() < n]
        if short:
            self.node.get_logger().warning(f"starting without {n} subscriber(s) on {short}")
        else:
            # DDS discovery is not symmetric: our writer can count a reader before that reader has
            # matched our writer, and reliable-volatile samples sent in that gap are lost.
            time.sleep(SUBSCRIBER_SETTLE_S)


class BagPlayerNode(Node):
    """The player's node. With ``serve`` it plays every path sent to ``~/play`` in a worker
    thread (reporting "ok PATH N" / "error PATH: why" on ``~/done``) and keeps running."""

    def __init__(self, options: PlaybackOptions = PlaybackOptions(), serve: bool = False):
        super().__init__("bag_player")
        self.diag = Diagnostics(self, "bag playback", hardware_id="rosbag2")
        self.player = BagPlayer(self, options, self.diag)
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = None
        if serve:
            self.create_subscription(String, "~/play", lambda m: self._queue.put(m.data), 10)
            self.done = self.create_publisher(String, "~/done", 10)
            self._thread = threading.Thread(target=self._worker, daemon=True)
            self._thread.start()

    def enqueue(self, path: str) -> None:
        self._queue.put(path)

    def _worker(self) -> None:
        while not self.player._stop.is_set():
            try:
                path = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                n = self.player.play(path)
            except InputError as exc:
                self.diag.error(f"cannot play bag: {exc}", key="bad_bags")
                self.done.publish(String(data=f"error {path}: {exc}"))
                continue
            self.get_logger().info(f"finished {path}: {n} messages")
            self.done.publish(String(data=f"ok {path} {n}"))

    def close(self) -> None:
        self.player.stop()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
