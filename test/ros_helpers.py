"""Shared helpers for tests that run real ROS 2 nodes in separate processes.

- ``DOMAIN_ID``: the ROS_DOMAIN_ID exported by scripts/test.sh, or one derived from the pid
  (10..99) when a test file runs alone; set in os.environ so child processes inherit it.
- ``NodeProcess``: ``python -m <module> --ros-args ...`` with its output in a log file (in a
  per-process temp folder removed at exit unless TRISTREAM_KEEP_TEST_LOGS=1),
  stopped with SIGINT (then SIGKILL) so nodes shut down cleanly.
- ``Probe``: an rclpy node inside the test process (its own Context) that publishes and
  records messages, with ``wait_until`` to spin until a condition holds.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SPEECH_WAV = SHARED_DATA / "speech" / "sense_and_sensibility_01_austen_64kb-0870.wav"
BAGS = SHARED_DATA / "bags"

if not os.environ.get("ROS_DOMAIN_ID"):
    os.environ["ROS_DOMAIN_ID"] = str(10 + os.getpid() % 90)
DOMAIN_ID = int(os.environ["ROS_DOMAIN_ID"])

# Node logs go in one folder per test process, removed when it exits (a failing test's
# assertion message carries the output it needs); TRISTREAM_KEEP_TEST_LOGS=1 keeps them.
_LOG_DIR = Path(tempfile.mkdtemp(prefix="tristream_test_logs_"))
if os.environ.get("TRISTREAM_KEEP_TEST_LOGS") != "1":
    atexit.register(shutil.rmtree, _LOG_DIR, ignore_errors=True)


class NodeProcess:
    """A child process running one node (or any ``python -m`` module)."""

    def __init__(self, module: str, *args: str, ros_args: list[str] | None = None, cwd: str | Path | None = None,
                 env: dict | None = None):
        fd, path = tempfile.mkstemp(prefix=module.rsplit(".", 1)[-1] + "_", suffix=".log", dir=_LOG_DIR)
        os.close(fd)  # reopened below for the child's output
        self.log_path = Path(path)
        cmd = [sys.executable, "-u", "-m", module, *args]
        if ros_args:
            cmd += ["--ros-args", *ros_args]
        self.cmd = cmd
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(cwd or REPO),
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                                     start_new_session=True)

    @property
    def output(self) -> str:
        if not self._log.closed:  # still running (stop() closes it)
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_output(self, text: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            if not self.alive():
                return text in self.output
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        """Signal the process (SIGINT: like Ctrl-C), wait, SIGKILL if needed; exit code."""
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Probe:
    """An rclpy node in the test process with its own context; records what it hears."""

    def __init__(self, name: str = "test_probe"):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context, domain_id=DOMAIN_ID)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list] = {}

    def subscribe(self, msg_type, topic: str, qos=None, raw: bool = False) -> list:
        from tristream_ros.ros.qos import reliable_qos

        bucket = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, bucket.append, qos or reliable_qos(100), raw=raw)
        return bucket

    def diagnostics(self) -> list:
        """All DiagnosticStatus entries heard on /diagnostics so far (subscribe first)."""
        return [st for arr in self.received.get("/diagnostics", []) for st in arr.status]

    def subscribe_diagnostics(self) -> list:
        from diagnostic_msgs.msg import DiagnosticArray

        return self.subscribe(DiagnosticArray, "/diagnostics")

    def publisher(self, msg_type, topic: str, qos=None):
        from tristream_ros.ros.qos import reliable_qos

        return self.node.create_publisher(msg_type, topic, qos or reliable_qos(100))

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def wait_until(self, condition, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return bool(condition())

    def wait_for_subscribers(self, pub, n: int = 1, timeout: float = 10.0) -> bool:
        return self.wait_until(lambda: pub.get_subscription_count() >= n, timeout)

    def wait_for_publishers(self, topic: str, n: int = 1, timeout: float = 10.0) -> bool:
        return self.wait_until(lambda: self.node.count_publishers(topic) >= n, timeout)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def error_statuses(statuses, name_part: str = "") -> list:
    """DiagnosticStatus entries at ERROR level whose name contains ``name_part``."""
    from diagnostic_msgs.msg import DiagnosticStatus

    return [s for s in statuses if s.level == DiagnosticStatus.ERROR and name_part in s.name]
