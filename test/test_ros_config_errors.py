"""Bad parameters at start-up: the node stays up, logs the error and reports it on /diagnostics
(or exits 2 when `exit_on_config_error` asks it to fail fast)."""
from __future__ import annotations

import pytest

from ros_helpers import NodeProcess, Probe, error_statuses


@pytest.fixture
def probe():
    p = Probe("config_error_probe")
    yield p
    p.close()


@pytest.mark.parametrize("module, params, expected", [
    ("tristream_ros.ros.speaker_node", ["sink:=bogus"], "unknown sink 'bogus'"),
    ("tristream_ros.ros.microphone_node", ["source:=bogus"], "unknown source 'bogus'"),
    ("tristream_ros.ros.speech_tokenizer_node", ["speech.ctc_grammar_rescore_top:=-1"],
     "speech.ctc_grammar_rescore_top must be >= 0"),
    ("tristream_ros.ros.speech_tokenizer_node", ["speech.ctc_grammar_reject_gap_below:=.nan"],
     "speech.ctc_grammar_reject_* must be numbers"),
    ("tristream_ros.ros.speech_tokenizer_node", ["speech.ctc_grammar_reject_gap_weight:=-500.0"],
     "the gap weight finite and >= 0"),
    ("tristream_ros.ros.speech_tokenizer_node", ["speech.quiet_peak_dbfs:=6.0"],
     "speech.quiet_peak_dbfs must be in [-120, 0] dBFS"),
    ("tristream_ros.ros.speech_tokenizer_node", ["speech.max_speech_s_per_phone:=-0.3"],
     "speech.max_speech_s_per_phone must be a finite number >= 0"),
    ("tristream_ros.ros.speech_tokenizer_node", ["speech.wake_word:=banana"],
     "wake word 'banana' is not one of the words heard before a command"),
])
def test_bad_parameters_reported_and_node_stays_up(probe, module, params, expected):
    probe.subscribe_diagnostics()
    ros_args = [a for p in params for a in ("-p", p)]
    with NodeProcess(module, ros_args=ros_args) as node:
        assert probe.wait_until(lambda: error_statuses(probe.diagnostics(), "configuration"), 20), node.output
        status = error_statuses(probe.diagnostics(), "configuration")[-1]
        assert expected in status.message, status.message
        assert status.name.startswith(module.rsplit(".", 1)[-1]), status.name  # reported under its own name
        assert node.alive(), node.output  # still running, still reporting
        n = len(error_statuses(probe.diagnostics(), "configuration"))
        assert probe.wait_until(lambda: len(error_statuses(probe.diagnostics(), "configuration")) > n, 5)
        assert "configuration error" in node.output and expected in node.output
        rc = node.stop()
        assert rc == 0, node.output  # Ctrl-C ends it cleanly (the log says why not)


def test_fail_fast_exits_2(probe):
    with NodeProcess("tristream_ros.ros.speaker_node",
                     ros_args=["-p", "sink:=bogus", "-p", "exit_on_config_error:=true"]) as node:
        node.proc.wait(30)
        assert node.proc.returncode == 2, node.output
        assert "unknown sink 'bogus'" in node.output


def test_unreadable_calibration_file_is_a_configuration_error(probe, tmp_path):
    """A model folder whose ctc_grammar.json (the hybrid's calibrated thresholds) is corrupt:
    the speech node says which file, reports it on /diagnostics and stays up."""
    from pathlib import Path
    demo = Path(__file__).resolve().parents[1] / "models" / "demo"
    for name in ("config.json", "speech.safetensors"):
        (tmp_path / name).symlink_to(demo / name)
    (tmp_path / "ctc_grammar.json").write_text('{"min_score": -0.4')
    probe.subscribe_diagnostics()
    with NodeProcess("tristream_ros.ros.speech_tokenizer_node", ros_args=["-p", f"model.path:={tmp_path}"]) as node:
        assert probe.wait_until(lambda: error_statuses(probe.diagnostics(), "configuration"), 30), node.output
        status = error_statuses(probe.diagnostics(), "configuration")[-1]
        assert "ctc_grammar.json" in status.message and "not valid JSON" in status.message, status.message
        assert node.alive(), node.output
        rc = node.stop()
        assert rc == 0, node.output


def test_a_shutdown_landing_in_the_executor_is_a_clean_stop(monkeypatch):
    """Ctrl-C shuts the context down; landing while rclpy's executor builds its wait set it raises
    RCLError "context is not valid" (seen once in CI: the node exited 1). That is a clean stop;
    an RCLError on a context still valid is not. rclpy.spin is replaced by one that raises it."""
    import rclpy
    from rclpy.context import Context
    from tristream_ros.ros import node_runtime

    def spin_raising(node):
        raise node_runtime._rclpy.RCLError("failed to initialize wait set: the given context is not valid")

    monkeypatch.setattr(node_runtime.rclpy, "spin", spin_raising)
    ctx = Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("shutdown_race_probe", context=ctx)
    try:
        with pytest.raises(node_runtime._rclpy.RCLError):
            node_runtime._spin_until_shutdown(node)  # context valid: a real error, raised
        ctx.shutdown()
        node_runtime._spin_until_shutdown(node)  # context shut down (Ctrl-C): returns
    finally:
        node.destroy_node()
        if ctx.ok():
            ctx.shutdown()
