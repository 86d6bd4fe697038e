"""`tristream bench`: dispatch by name (registry, clear message for a missing module) and the
latency benchmark's cascade baseline on real parts (silero-vad, pocketsphinx, text model, espeak-ng)."""
from __future__ import annotations

import argparse
import types

from graph_helpers import demo_bag, make_checkpoint
from tristream_ros.commands import bench_cmd


def test_registry_names_and_modules():
    assert {"latency", "vision", "routing", "memory", "decode", "speech"} <= set(bench_cmd.BENCHMARKS)
    for name, path in bench_cmd.BENCHMARKS.items():
        assert path == f"tristream_ros.bench.{name}"


def test_unknown_and_missing_benchmarks(monkeypatch, capsys):
    assert bench_cmd.run(argparse.Namespace(name="warp", options=[])) == 2
    assert "unknown benchmark 'warp'" in capsys.readouterr().err
    monkeypatch.setitem(bench_cmd.BENCHMARKS, "ghost", "tristream_ros.bench.ghost_not_here")
    assert bench_cmd.run(argparse.Namespace(name="ghost", options=[])) == 2
    assert "not available in this build" in capsys.readouterr().err


def test_dispatch_passes_options(monkeypatch):
    seen = {}
    fake = types.SimpleNamespace(add_arguments=lambda p: p.add_argument("--json", action="store_true"),
                                 run=lambda a: seen.setdefault("json", a.json) and 0)
    monkeypatch.setattr(bench_cmd, "load", lambda name: (fake, None))
    assert bench_cmd.run(argparse.Namespace(name="latency", options=["--json"])) == 0
    assert seen == {"json": True}


def test_cascade_baseline_runs_on_real_parts(tmp_path):
    import torch

    from tristream_ros.bench.latency import measure_cascade
    from tristream_ros.model.speech.vad import VadConfig

    torch.set_num_threads(1)
    model = make_checkpoint(tmp_path / "talk", talkative=True)
    bag, truth = demo_bag()
    out = measure_cascade(model, [(bag, truth)], VadConfig(min_silence_ms=250.0), "queries", lambda s: None)
    n = len(truth["utterances"])
    assert out["n_utterances"] == n and out["first_audio_ms"]["n"] == n
    assert out["first_audio_ms"]["p50"] >= out["first_text_ms"]["p50"] >= out["transcript_ms"]["p50"] > 0
    assert out["transcripts_correct"] >= n - 1  # pocketsphinx with the query grammar on espeak voices
