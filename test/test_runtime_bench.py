"""Benchmarks run end to end on the tiny preset: JSON figures named with units, baselines
measured in the same run, stated workloads, and `python -m` entry points."""
import argparse
import json
import subprocess
import sys

import pytest
import torch

from tristream_ros.bench import decode, memory, routing, speech, vision
from tristream_ros.bench.common import memory_bandwidth_gbs, peak_rss_gb

torch.set_num_threads(1)


def _run(module, argv, capsys) -> dict:
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    assert module.run(p.parse_args(argv + ["--json"])) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_routing_workload_and_reduction(capsys):
    r = _run(routing, ["--preset", "tiny"], capsys)
    assert abs(sum(w["share"] for w in r["workload"].values()) - 1) < 1e-9
    e = r["expected_gflops_per_query"]
    assert 0 < e["router_start"] <= e["always_trimodal"] <= e["always_trimodal_dense"]
    assert r["flops_reduction"] == pytest.approx(1 - e["router_start"] / e["always_trimodal"], abs=0.02)
    assert e["cheapest_start"] >= e["router_start"]  # escalation pays extra prefills
    assert set(r["target"]) == {"flops_reduction_min", "met"}


def test_speech_cost_grows_with_length(capsys):
    r = _run(speech, ["--preset", "tiny", "--durations", "0.5,1,2", "--repeats", "1"], capsys)
    u = r["utterances"]
    assert r["cost_grows_with_length"] and list(u) == ["0.5s", "1s", "2s"]
    assert u["2s"]["streaming_gflops"] < r["padded_30s_baseline"]["gflops"]
    assert u["1s"]["flops_ratio_vs_padded"] == pytest.approx(
        u["1s"]["streaming_gflops"] / r["padded_30s_baseline"]["gflops"], rel=0.05)


def test_vision_keeps_at_most_the_budget(capsys):
    r = _run(vision, ["--preset", "tiny", "--scenes", "1"], capsys)
    assert 0 < r["keep_ratio"] <= 0.27 and r["target"]["met"]
    assert r["by_kind"]["static"]["tiles_reencoded"] < r["by_kind"]["scene"]["tiles_reencoded"]
    assert 0 < r["encoder"]["stve_gflops_per_frame"] and 0 < r["decoder_vision"]["flops_reduction"] < 1


def test_vision_measures_a_checkpoints_stve(tmp_path, capsys):
    from graph_helpers import make_checkpoint
    folder = make_checkpoint(tmp_path / "ckpt")
    r = _run(vision, ["--model", str(folder), "--scenes", "1"], capsys)
    assert r["weights"].startswith("trained") and r["preset"] == "tiny"
    assert 0 < r["keep_ratio"] <= 0.27 and 0 < r["encoder"]["flops_reduction"] < 1


def test_memory_and_decode_on_tiny_export(tmp_path, capsys):
    work = str(tmp_path / "work")
    m = _run(memory, ["--preset", "tiny", "--work", work], capsys)
    for prec in ("fp32", "int8"):
        assert m[prec]["file_gb"] > 0 and 0 < m[prec]["peak_rss_gb"] < 2
        assert m[prec]["parts"] == ["decoder", "speech", "vision"]
    assert m["int8"]["file_gb"] < m["fp32"]["file_gb"]
    d = _run(decode, ["--preset", "tiny", "--work", work, "--context", "8", "--steps", "3"], capsys)
    assert d["memory_bandwidth"]["copy_gbs"] > 0
    for prec in ("fp32", "int8"):
        assert d[prec]["ms_per_token"] > 0 and d[prec]["bound_ms_per_token"] > 0
        assert d[prec]["ms_per_token_over_bound"] == pytest.approx(
            d[prec]["ms_per_token"] / d[prec]["bound_ms_per_token"], rel=0.05)


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "tristream_ros.bench.routing", "--preset", "tiny", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["benchmark"] == "routing"


def test_helpers():
    assert peak_rss_gb() > 0.01
    assert memory_bandwidth_gbs(size_mb=16, repeats=2)["copy_gbs"] > 0


def test_latency_overrides_parse_and_reject_bad_input():
    """`tristream bench latency --set NODE:KEY=VALUE`: values read as YAML, bad ones a clear error."""
    from tristream_ros.bench.latency import parse_overrides
    from tristream_ros.errors import InputError
    got = parse_overrides(["speech_tokenizer_node:speech.command_wrappers=true",
                           "fusion_node:vision.max_age_s=2.5"])
    assert got == {"speech_tokenizer_node": {"speech.command_wrappers": True},
                   "fusion_node": {"vision.max_age_s": 2.5}}
    for bad in ("speech.command_wrappers=true", "no_such_node:a=1", "fusion_node:=1", "fusion_node:a"):
        with pytest.raises(InputError):
            parse_overrides([bad])
