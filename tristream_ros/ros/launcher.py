"""`tristream launch`: start the node graph of config/tristream.yaml as separate processes.

The pip-only twin of launch/tristream.launch.py: the same params file, namespace,
use_sim_time and camera/microphone remaps, one process per enabled node
(``python -m <module> --ros-args ...``). Child output is forwarded line by line with a
``[node_name]`` prefix. Ctrl-C (SIGINT/SIGTERM) stops every node; when one node exits on
its own, the launcher says which and with what exit code, then stops the others.

No rclpy here: this module only manages processes.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tristream_ros.errors import InputError
from tristream_ros.ros.entrypoints import NODE_MODULES

LAUNCH_KEY = "tristream_launch"  # the params-file block that describes the graph
CONFIG_NAME = "tristream.yaml"
GRAPH_NODES = ("microphone_node", "speaker_node", "vision_encoder_node", "speech_tokenizer_node", "fusion_node",
               "action_bridge_node")  # the design's graph, in start order


def default_config_path() -> Path:
    """config/tristream.yaml of the source tree, else share/tristream_ros/config of a prefix."""
    candidates = [Path(__file__).resolve().parents[2] / "config" / CONFIG_NAME]
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    candidates += [Path(p) / "share" / "tristream_ros" / "config" / CONFIG_NAME for p in prefixes]
    for c in candidates:
        if c.is_file():
            return c
    raise InputError(f"no {CONFIG_NAME} found; looked in {', '.join(str(c) for c in candidates)}")


def node_block(doc: dict, name: str):
    """A node's entry in a params file, keyed "name", "/name" or "/**/name"."""
    for key in (f"/**/{name}", name, f"/{name}"):
        if key in doc:
            return doc[key]
    return None


@dataclass
class NodeSpec:
    name: str
    module: str
    enabled: bool

    @property
    def available(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False


@dataclass
class LaunchConfig:
    params_file: Path
    namespace: str = ""
    use_sim_time: bool = False
    remaps: dict[str, str] = field(default_factory=dict)  # from -> to, applied to every node
    nodes: list[NodeSpec] = field(default_factory=list)

    @property
    def enabled(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.enabled]


def load_launch_config(params_file: str | Path | None = None, namespace: str | None = None,
                       use_sim_time: bool | None = None, camera_topic: str | None = None,
                       microphone_topic: str | None = None, enable: list[str] = (),
                       disable: list[str] = ()) -> LaunchConfig:
    """Read the ``tristream_launch`` block of the params file, then apply overrides."""
    path = Path(params_file) if params_file else default_config_path()
    if not path.is_file():
        raise InputError(f"params file {str(path)!r} does not exist")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"params file {str(path)!r} is not valid YAML: {exc}") from None
    block = (node_block(doc, LAUNCH_KEY) or {}).get("ros__parameters") or {}
    remap = block.get("remap") or {}
    enabled = dict(block.get("enable") or {})
    for name in list(enable) + list(disable):
        if name not in NODE_MODULES:
            raise InputError(f"unknown node {name!r}; known: {', '.join(NODE_MODULES)}")
    enabled.update({n: True for n in enable})
    enabled.update({n: False for n in disable})
    unknown = sorted(set(enabled) - set(NODE_MODULES))
    if unknown:
        raise InputError(f"{path}: {LAUNCH_KEY}.enable names unknown node(s) {unknown}; known: {', '.join(NODE_MODULES)}")
    order = [n for n in GRAPH_NODES if n in enabled] + [n for n in enabled if n not in GRAPH_NODES]
    remaps = {
        "camera/image": str(camera_topic or remap.get("camera_image") or "camera/image"),
        "audio/input": str(microphone_topic or remap.get("microphone") or "audio/input"),
    }
    return LaunchConfig(
        params_file=path.resolve(),
        namespace=str(block.get("namespace", "") if namespace is None else namespace),
        use_sim_time=bool(block.get("use_sim_time", False) if use_sim_time is None else use_sim_time),
        remaps={k: v for k, v in remaps.items() if k != v},
        nodes=[NodeSpec(n, NODE_MODULES[n], bool(enabled[n])) for n in order],
    )


def node_command(spec: NodeSpec, cfg: LaunchConfig, python: str = sys.executable) -> list[str]:
    """The command line that starts one node (same arguments launch_ros would pass)."""
    cmd = [python, "-u", "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}",
           "--params-file", str(cfg.params_file)]
    if cfg.namespace:
        cmd += ["-r", f"__ns:=/{cfg.namespace.strip('/')}"]
    if cfg.use_sim_time:
        cmd += ["-p", "use_sim_time:=true"]
    for src, dst in cfg.remaps.items():
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


def check_nodes(cfg: LaunchConfig) -> list[str]:
    """Report lines for disabled nodes; InputError if an enabled node's module is missing."""
    missing = [n for n in cfg.enabled if not n.available]
    if missing:
        raise InputError("enabled node(s) not available in this build: "
                         + ", ".join(f"{n.name} (module {n.module})" for n in missing)
                         + f"; set {LAUNCH_KEY}.enable.<node>: false in {cfg.params_file} or pass --disable")
    if not cfg.enabled:
        raise InputError(f"no node is enabled in {cfg.params_file}")
    return [f"skipping {n.name}: disabled in config" + ("" if n.available else " (module not available in this build)")
            for n in cfg.nodes if not n.enabled]


class Launcher:
    """Runs the enabled nodes; ``run()`` blocks until Ctrl-C or a node exits."""

    def __init__(self, cfg: LaunchConfig, out=None, stop_timeout_s: float = 10.0):
        self.cfg = cfg
        self.out = out or sys.stdout
        self.stop_timeout_s = stop_timeout_s
        self.procs: dict[str, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()

    def say(self, line: str, prefix: str = "launch") -> None:
        with self._lock:
            self.out.write(f"[{prefix}] {line}\n")
            self.out.flush()

    def _forward(self, name: str, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.say(raw.decode(errors="replace").rstrip("\n"), prefix=name)
        stream.close()

    def start(self) -> None:
        for line in check_nodes(self.cfg):
            self.say(line)
        for spec in self.cfg.enabled:
            cmd = node_command(spec, self.cfg)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                    start_new_session=True)  # Ctrl-C reaches the launcher only; it stops children
            self.procs[spec.name] = proc
            t = threading.Thread(target=self._forward, args=(spec.name, proc.stdout), daemon=True)
            t.start()
            self._threads.append(t)
            self.say(f"started {spec.name} (pid {proc.pid}): {' '.join(cmd[3:])}")

    def request_stop(self, *_args) -> None:
        self._stop_requested.set()

    def run(self) -> int:
        """Start, wait, stop. Exit code: 0 after Ctrl-C, else the first dead node's code (or 1)."""
        old = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            code = 0
            while not self._stop_requested.wait(0.1):
                dead = [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]
                if dead:
                    name, rc = dead[0]
                    why = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
                    self.say(f"{name} exited with {why}; stopping the other nodes")
                    code = rc if rc > 0 else 1
                    break
            else:
                self.say("stop requested; stopping all nodes")
            self.stop()
            return code
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def stop(self) -> None:
        """SIGINT every running node, then SIGTERM / SIGKILL stragglers after ``stop_timeout_s``."""
        running = {n: p for n, p in self.procs.items() if p.poll() is None}
        for p in running.values():
            p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + self.stop_timeout_s
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for name, p in running.items():
                try:
                    p.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.say(f"{name} did not stop in time; sending {sig.name}")
                    p.send_signal(sig)
            deadline = time.monotonic() + 3.0
        for t in self._threads:
            t.join(timeout=2.0)
        for name, p in running.items():
            self.say(f"{name} stopped (exit code {p.returncode})")
