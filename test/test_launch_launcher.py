"""`tristream launch`: config parsing, command lines, and the real graph as processes."""
import ast
import signal
import sys

import pytest
import yaml

from ros_helpers import REPO, SPEECH_WAV, NodeProcess, Probe
from tristream_ros.errors import InputError
from tristream_ros.ros.entrypoints import NODE_MODULES
from tristream_ros.ros.launcher import GRAPH_NODES, LAUNCH_KEY, check_nodes, load_launch_config, node_command

W = "/**/"  # params-file keys match nodes in any namespace

CONFIG = REPO / "config" / "tristream.yaml"
EXISTING = ("microphone_node", "speaker_node")  # nodes implemented so far in this tree


def write_config(tmp_path, mutate) -> str:
    doc = yaml.safe_load(CONFIG.read_text())
    mutate(doc)
    path = tmp_path / "tristream.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_shipped_config_is_consistent():
    doc = yaml.safe_load(CONFIG.read_text())
    graph = doc[W + LAUNCH_KEY]["ros__parameters"]
    assert set(graph["enable"]) == set(GRAPH_NODES)
    for name in GRAPH_NODES:
        assert "ros__parameters" in doc[W + name], name  # every node has a params block
    cfg = load_launch_config(CONFIG)
    assert [n.name for n in cfg.nodes] == list(GRAPH_NODES)
    for line in check_nodes(cfg):  # only disabled nodes may be missing: launching must not fail
        assert line.startswith("skipping")


def test_launch_file_matches_launcher():
    tree = ast.parse((REPO / "launch" / "tristream.launch.py").read_text())
    consts = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, (ast.Constant, ast.Tuple))}
    assert consts["LAUNCH_KEY"] == LAUNCH_KEY and consts["PACKAGE"] == "tristream_ros"
    assert tuple(consts["NODES"]) == GRAPH_NODES
    assert set(GRAPH_NODES) <= set(NODE_MODULES)
    for name in GRAPH_NODES:  # executables the launch file starts exist
        assert (REPO / "scripts" / "nodes" / name).is_file()
    assert "generate_launch_description" in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}


def test_node_command_has_params_namespace_and_remaps(tmp_path):
    cfg = load_launch_config(CONFIG, namespace="robot1", use_sim_time=True, camera_topic="/cam/raw",
                             microphone_topic="/mic/chunks")
    cmd = node_command(cfg.nodes[0], cfg, python="py")
    assert cmd[:4] == ["py", "-u", "-m", "tristream_ros.ros.microphone_node"]
    joined = " ".join(cmd)
    assert f"--params-file {CONFIG.resolve()}" in joined
    assert "-r __ns:=/robot1" in joined and "-p use_sim_time:=true" in joined
    assert "-r camera/image:=/cam/raw" in joined and "-r audio/input:=/mic/chunks" in joined


def test_enabled_missing_node_is_an_error_disabled_is_reported(tmp_path):
    from tristream_ros.ros.launcher import NodeSpec

    ghost = "tristream_ros.ros.ghost_node"  # a module that does not exist
    cfg = load_launch_config(CONFIG)
    cfg.nodes.append(NodeSpec("ghost_node", ghost, enabled=False))
    assert "skipping ghost_node: disabled in config (module not available in this build)" in check_nodes(cfg)
    cfg.nodes[-1].enabled = True
    with pytest.raises(InputError, match=rf"ghost_node \(module {ghost}\)"):
        check_nodes(cfg)
    with pytest.raises(InputError, match="unknown node 'nope'"):
        load_launch_config(CONFIG, enable=["nope"])
    with pytest.raises(InputError, match="does not exist"):
        load_launch_config(tmp_path / "missing.yaml")


def graph_config(tmp_path, wav_path, out_wav, mic_extra=None):
    def mutate(doc):
        graph = doc[W + LAUNCH_KEY]["ros__parameters"]
        graph["namespace"] = "lt"
        graph["enable"] = {n: n in EXISTING for n in GRAPH_NODES}
        mic = doc[W + "microphone_node"]["ros__parameters"]
        mic["source"] = "wav"
        mic["wav"] = {"path": str(wav_path), "loop": True, "realtime": True}
        mic.update(mic_extra or {})
        doc[W + "speaker_node"]["ros__parameters"].update({"sink": "wav", "wav": {"path": str(out_wav)}})
    return write_config(tmp_path, mutate)


@pytest.fixture
def probe():
    p = Probe("launch_test_probe")
    yield p
    p.close()


def test_launch_runs_graph_and_stops_on_ctrl_c(tmp_path, probe):
    from tristream_ros.msg import AudioChunk

    out_wav = tmp_path / "out.wav"
    cfg = graph_config(tmp_path, SPEECH_WAV, out_wav)
    chunks = probe.subscribe(AudioChunk, "/lt/mic_remapped")
    with NodeProcess("tristream_ros.cli", "launch", "--params-file", cfg,
                     "--microphone-topic", "mic_remapped") as launch:
        # params file applied (wav source), namespace + remap applied (relative -> /lt/mic_remapped)
        assert probe.wait_until(lambda: len(chunks) >= 10, 20), launch.output
        assert launch.wait_output("[microphone_node] [INFO]", 5)
        assert "[launch] skipping fusion_node: disabled" in launch.output
        assert chunks[0].header.frame_id == "microphone" and chunks[0].sample_rate == 16000
        pids = [int(line.split("(pid ")[1].split(")")[0]) for line in launch.output.splitlines() if "(pid " in line]
        assert len(pids) == 2
        launch.proc.send_signal(signal.SIGINT)
        launch.proc.wait(20)
        assert launch.proc.returncode == 0, launch.output
        out = launch.output
    assert "microphone_node stopped (exit code 0)" in out and "speaker_node stopped (exit code 0)" in out
    for pid in pids:  # no orphans
        with pytest.raises(ProcessLookupError):
            import os
            os.kill(pid, 0)


def test_launch_reports_dead_node_and_stops_others(tmp_path):
    cfg = graph_config(tmp_path, tmp_path / "missing.wav", tmp_path / "o.wav",
                       {"source": "bogus", "exit_on_config_error": True})  # fail fast
    with NodeProcess("tristream_ros.cli", "launch", "--params-file", cfg) as launch:
        launch.proc.wait(30)
        out = launch.output
    assert launch.proc.returncode == 2, out
    assert "microphone_node exited with exit code 2; stopping the other nodes" in out
    assert "unknown source 'bogus'" in out
    assert "speaker_node stopped" in out


def test_launch_cli_errors_are_clear(tmp_path):
    import subprocess

    r = subprocess.run([sys.executable, "-m", "tristream_ros.cli", "launch", "--params-file",
                        str(tmp_path / "nope.yaml")], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and "nope.yaml' does not exist" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tristream_ros.cli", "launch", "--enable", "no_such_node", "--dry-run"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and "unknown node 'no_such_node'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tristream_ros.cli", "launch", "--dry-run"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0 and "tristream_ros.ros.microphone_node --ros-args" in r.stdout


def _load_launch_file_with_stubs(monkeypatch, launch_args: dict):
    """Import launch/tristream.launch.py with minimal stand-ins for launch / launch_ros /
    ament_index_python (not installable here). The stand-ins only record what the file asks
    for, so the file's own logic (defaults from the YAML, enable flags, remaps) is exercised."""
    import importlib.util
    import types

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    class Recorder:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    mods = {
        "launch": types.ModuleType("launch"),
        "launch.actions": types.ModuleType("launch.actions"),
        "launch.substitutions": types.ModuleType("launch.substitutions"),
        "launch_ros": types.ModuleType("launch_ros"),
        "launch_ros.actions": types.ModuleType("launch_ros.actions"),
        "ament_index_python": types.ModuleType("ament_index_python"),
        "ament_index_python.packages": types.ModuleType("ament_index_python.packages"),
    }
    mods["launch"].LaunchDescription = lambda actions: actions
    mods["launch.actions"].DeclareLaunchArgument = Recorder
    mods["launch.actions"].LogInfo = Recorder
    mods["launch.actions"].OpaqueFunction = Recorder
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch_ros.actions"].Node = Recorder
    mods["ament_index_python.packages"].get_package_share_directory = lambda pkg: str(REPO)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("tristream_launch_file", REPO / "launch" / "tristream.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    declared = module.generate_launch_description()
    context = {a.args[0]: a.kwargs["default_value"] for a in declared if isinstance(a, Recorder) and a.args}
    context.update(launch_args)
    opaque = declared[-1]
    return opaque.kwargs["function"](context)


def test_launch_file_builds_same_graph_as_launcher(monkeypatch, tmp_path):
    def mutate(doc):
        graph = doc[W + LAUNCH_KEY]["ros__parameters"]
        graph["namespace"] = "robot7"
        graph["remap"]["camera_image"] = "/cam/raw"
        graph["enable"] = {n: n in EXISTING for n in GRAPH_NODES}
    params = write_config(tmp_path, mutate)
    actions = _load_launch_file_with_stubs(monkeypatch, {"params_file": params, "use_sim_time": "true",
                                                         "enable_speaker_node": "false"})
    nodes = [a.kwargs for a in actions if "executable" in a.kwargs]
    assert [n["executable"] for n in nodes] == ["microphone_node"]  # speaker disabled by argument
    mic = nodes[0]
    assert mic["namespace"] == "robot7" and mic["name"] == "microphone_node"
    assert mic["parameters"] == [params, {"use_sim_time": True}]
    assert mic["remappings"] == [("camera/image", "/cam/raw")]
    cfg = load_launch_config(params, use_sim_time=True, disable=["speaker_node"])
    cmd = " ".join(node_command(cfg.enabled[0], cfg))
    assert [n.name for n in cfg.enabled] == ["microphone_node"]
    assert "-r __ns:=/robot7" in cmd and "-r camera/image:=/cam/raw" in cmd and "use_sim_time:=true" in cmd
