"""A small diagnostic_msgs/DiagnosticArray publisher on /diagnostics with counters.

Usage in a node::

    self.diag = Diagnostics(self, "audio input", hardware_id="microphone")
    self.diag.count("chunks_out")
    self.diag.error(f"bad chunk: {exc}")   # logs, counts 'errors', publishes ERROR now

Every ``period_s`` the status is published with all counters as key/values. The level is
ERROR while an error is newer than ``hold_s``, WARN when drops were counted in the last
period, OK otherwise.
"""
from __future__ import annotations

import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from tristream_ros.ros.qos import reliable_qos

TOPIC = "/diagnostics"  # absolute: aggregators listen there whatever the namespace


class Diagnostics:
    def __init__(self, node, name: str, hardware_id: str = "", period_s: float = 1.0, hold_s: float = 5.0):
        self.node = node
        self.name = f"{node.get_name()}: {name}"
        self.hardware_id = hardware_id
        self.hold_s = hold_s
        self.counters: dict[str, int] = {"errors": 0, "drops": 0}
        self.last_error = ""
        self.last_error_time = -1e9  # monotonic s
        self.message = "starting"
        self._drops_at_last_publish = 0
        self._lock = threading.Lock()
        self._pub = node.create_publisher(DiagnosticArray, TOPIC, reliable_qos())
        self._timer = node.create_timer(period_s, self.publish)

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + n

    def ok(self, message: str) -> None:
        self.message = message

    def error(self, message: str, key: str = "errors") -> None:
        """Log ``message`` as an error, count it under ``key`` and publish ERROR at once."""
        self.node.get_logger().error(message)
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            if key != "errors":
                self.counters["errors"] += 1
            self.last_error, self.last_error_time = message, time.monotonic()
        self.publish()

    def drop(self, message: str = "", n: int = 1) -> None:
        if message:
            self.node.get_logger().warning(message)
        self.count("drops", n)

    def status(self) -> DiagnosticStatus:
        with self._lock:
            recent_error = time.monotonic() - self.last_error_time < self.hold_s
            new_drops = self.counters.get("drops", 0) - self._drops_at_last_publish
            self._drops_at_last_publish = self.counters.get("drops", 0)
            values = [KeyValue(key=k, value=str(v)) for k, v in sorted(self.counters.items())]
            values.append(KeyValue(key="last_error", value=self.last_error))
            last_error = self.last_error
        st = DiagnosticStatus(name=self.name, hardware_id=self.hardware_id, values=values)
        if recent_error:
            st.level, st.message = DiagnosticStatus.ERROR, last_error
        elif new_drops > 0:
            st.level, st.message = DiagnosticStatus.WARN, f"{new_drops} drop(s) in the last period"
        else:
            st.level, st.message = DiagnosticStatus.OK, self.message
        return st

    def publish(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.status = [self.status()]
        try:
            self._pub.publish(msg)
        except Exception:  # context already shut down
            pass
