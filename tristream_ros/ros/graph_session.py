"""Run the assistant graph and talk to it from one process: the demo, the latency benchmark and
the end-to-end tests share this.

- ``GraphSession``: writes a params file (config/tristream.yaml plus overrides such as
  ``model.path``) and starts the enabled nodes as separate processes with the launcher;
  ``stop()`` ends them (SIGINT, then harder) and removes the session's temp folder (the params
  file, and the log unless ``log_path`` put it elsewhere).
- ``Observer``: an rclpy node in its own context that records everything the graph says
  (transcripts, speech tokens, response chunks, action hints, spoken audio, diagnostics), each
  with its receive time on the wall clock, and publishes inputs (audio chunks, camera frames).
- ``LivePlayer``: plays a bag's camera and microphone messages like live sensors: recorded
  pacing, header stamps shifted onto the current clock (so end-of-speech -> output latencies can
  be read from header stamps), from a background thread.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tristream_ros.ros.launcher import LAUNCH_KEY, Launcher, default_config_path, load_launch_config, node_block

GRAPH = ("speaker_node", "vision_encoder_node", "speech_tokenizer_node", "fusion_node")
MODEL_NODES = ("vision_encoder_node", "speech_tokenizer_node", "fusion_node")


def _set(tree: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        tree = tree.setdefault(k, {})
    tree[keys[-1]] = value


def write_params(out: Path, nodes: tuple[str, ...], model_path: str | None = None,
                 overrides: dict[str, dict] | None = None, base: Path | None = None) -> Path:
    """config/tristream.yaml with ``nodes`` enabled (all others disabled), ``model.path`` set on the
    model nodes and ``overrides`` ({node: {"dotted.key": value}}) applied."""
    doc = yaml.safe_load(Path(base or default_config_path()).read_text()) or {}
    doc = copy.deepcopy(doc)
    launch = (node_block(doc, LAUNCH_KEY) or doc.setdefault(f"/**/{LAUNCH_KEY}", {})).setdefault("ros__parameters", {})
    launch["enable"] = {n: n in nodes for n in GRAPH + ("microphone_node", "action_bridge_node")}
    for n in nodes:
        if n not in launch["enable"]:
            launch["enable"][n] = True
    for n in set(nodes) | set(overrides or {}):
        block = node_block(doc, n)
        if block is None:
            block = doc.setdefault(f"/**/{n}", {})
        params = block.setdefault("ros__parameters", {})
        if model_path and n in MODEL_NODES:
            _set(params, "model.path", str(model_path))
        for k, v in (overrides or {}).get(n, {}).items():
            _set(params, k, v)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


class GraphSession:
    """The graph as child processes (one per node) via ``tristream_ros.ros.launcher``.

    Its parameters file (and its log, unless ``log_path`` puts it elsewhere) live in a temp
    folder that ``stop`` removes; pass ``log_path`` to keep the log.
    """

    def __init__(self, nodes: tuple[str, ...] = GRAPH, model_path: str | None = None,
                 overrides: dict[str, dict] | None = None, namespace: str = "", log_path: str | Path | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="tristream_graph_"))
        self._log = None
        try:
            self.params = write_params(self.dir / "params.yaml", tuple(nodes), model_path, overrides)
            self.log_path = Path(log_path) if log_path else self.dir / "graph.log"
            self._log = open(self.log_path, "w")
            self.cfg = load_launch_config(self.params, namespace=namespace)
            self.launcher = Launcher(self.cfg, out=self._log, stop_timeout_s=8.0)
        except BaseException:  # a bad config or override: nothing left behind
            if self._log is not None:
                self._log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def start(self) -> "GraphSession":
        self.launcher.start()
        return self

    def alive(self) -> dict[str, bool]:
        return {n: p.poll() is None for n, p in self.launcher.procs.items()}

    def log(self) -> str:
        """The launcher's and nodes' output so far ("" once ``stop`` removed a temp-folder log)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop every node, close the log and remove the temp folder."""
        try:
            self.launcher.stop()
        finally:
            self._log.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "GraphSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Heard:
    """A message with its wall-clock receive time (ns)."""

    msg: object
    t_ns: int


@dataclass
class Observer:
    """Records the graph's outputs; publishes its inputs. ``on_*`` callbacks for live printing."""

    namespace: str = ""
    name: str = "tristream_observer"
    heard: dict[str, list[Heard]] = field(default_factory=lambda: defaultdict(list))
    callbacks: dict[str, list] = field(default_factory=lambda: defaultdict(list))

    TOPICS = ("speech/transcript", "speech/tokens", "assistant/response", "assistant/action_hint", "audio/output",
              "vision/tokens")

    def __post_init__(self):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CompressedImage, Image

        from tristream_ros.msg import ActionHint, AudioChunk, ResponseChunk, SpeechTokens, Transcript, VisionTokens
        from tristream_ros.ros.qos import reliable_qos

        self.rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0") or 0))
        self.node = rclpy.create_node(self.name, namespace=self.namespace or None, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        types = dict(zip(self.TOPICS, (Transcript, SpeechTokens, ResponseChunk, ActionHint, AudioChunk, VisionTokens)))
        for topic, cls in types.items():
            self.node.create_subscription(cls, topic, self._recorder(topic), reliable_qos(1000))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._recorder("/diagnostics"), reliable_qos(100))
        self.pub_audio = self.node.create_publisher(AudioChunk, "audio/input", reliable_qos(200))
        self.pub_image = self.node.create_publisher(Image, "camera/image", reliable_qos(10))
        self.pub_compressed = self.node.create_publisher(CompressedImage, "camera/image/compressed", reliable_qos(10))
        self.lock = threading.Lock()
        self._spinning = threading.Event()
        self._thread: threading.Thread | None = None

    def _recorder(self, topic: str):
        def record(msg):
            h = Heard(msg, time.time_ns())
            with self.lock:
                self.heard[topic].append(h)
            for cb in self.callbacks.get(topic, ()):
                cb(h)
        return record

    def on(self, topic: str, callback) -> None:
        self.callbacks[topic].append(callback)

    def start_spinning(self) -> "Observer":
        self._spinning.set()

        def spin():
            while self._spinning.is_set():
                try:
                    self.executor.spin_once(timeout_sec=0.02)
                except Exception:  # context shut down
                    return
        self._thread = threading.Thread(target=spin, name="observer", daemon=True)
        self._thread.start()
        return self

    def get(self, topic: str) -> list[Heard]:
        with self.lock:
            return list(self.heard.get(topic, []))

    def clear(self) -> None:
        with self.lock:
            self.heard.clear()

    def wait_until(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if self._thread is None:
                self.executor.spin_once(timeout_sec=0.02)
            else:
                time.sleep(0.02)
        return bool(condition())

    def wait_for_graph(self, timeout: float = 60.0, need_vision: bool = True) -> bool:
        """Until the speech tokenizer listens, the fusion node answers (its lifecycle publishers
        exist) and, if asked, the vision encoder listens to the camera."""
        n = self.node

        def ready():
            ok = n.count_subscribers("audio/input") >= 1 and n.count_publishers("assistant/response") >= 1 \
                and n.count_subscribers("speech/tokens") >= 1
            return ok and (not need_vision or n.count_subscribers("camera/image") >= 1)
        return self.wait_until(ready, timeout)

    def diagnostics(self) -> list:
        return [st for h in self.get("/diagnostics") for st in h.msg.status]

    def close(self) -> None:
        self._spinning.clear()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


class LivePlayer:
    """Publishes a demo bag's camera and microphone messages through ``observer`` with recorded
    pacing and stamps moved onto the current wall clock. ``offset_ns`` maps bag time -> stamps."""

    def __init__(self, observer: Observer, bag_path: str | Path, rate: float = 1.0, camera: bool = True):
        self.observer, self.bag_path, self.rate, self.camera = observer, Path(bag_path), rate, camera
        self.offset_ns = 0
        self.bag_start_ns = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0

    def start(self) -> "LivePlayer":
        self._thread = threading.Thread(target=self._run, name="live-player", daemon=True)
        self._thread.start()
        return self

    def bag_to_stamp_ns(self, bag_ns: int) -> int:
        return bag_ns + self.offset_ns

    def _run(self) -> None:
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image

        from tristream_ros.bag.playback import paced
        from tristream_ros.data.demo_bag import CHUNK_S
        from tristream_ros.bag.reader import iter_messages
        from tristream_ros.msg import AudioChunk
        from tristream_ros.ros.conversions import ns_to_stamp, stamp_to_ns

        topics = ["/audio/input"] + (["/camera/image"] if self.camera else [])
        classes = {"/audio/input": AudioChunk, "/camera/image": Image}
        pubs = {"/audio/input": self.observer.pub_audio, "/camera/image": self.observer.pub_image}
        first = True
        try:
            for m in paced(iter_messages(self.bag_path, topics), self.rate):
                if self._stop.is_set():
                    break
                msg = deserialize_message(m.data, classes[m.topic])
                if first:
                    self.bag_start_ns = m.timestamp_ns
                    # like a live microphone: a chunk arrives once captured, so its first
                    # sample is one chunk older than the moment it is published
                    self.offset_ns = time.time_ns() - m.timestamp_ns - int(CHUNK_S * 1e9)
                    first = False
                msg.header.stamp = ns_to_stamp(stamp_to_ns(msg.header.stamp) + self.offset_ns)
                pubs[m.topic].publish(msg)
                self.published += 1
        finally:
            self.done.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
