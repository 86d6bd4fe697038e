"""`tristream bench memory`: file size and peak RSS of a preset's edge graphs in fp32 and int8.

    tristream bench memory --preset omni-0.5b --json

Exports the vision encoder, speech encoder and decoder step of the preset (random weights,
torchscript exporter) into --work (reused when already there), quantizes them to dynamic int8,
then, for each precision in a fresh subprocess: opens the three ONNX Runtime sessions and runs
one of each (16 tiles, 2 speech chunks, a 64-token prefill and 8 decode steps with the KV
cache), and reports that process's peak RSS. Sizes count each graph plus its .onnx.data.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tristream_ros.bench.common import GB, add_common_arguments, emit, machine, peak_rss_gb, sig

TARGET_INT8_PEAK_RSS_GB = 2.1  # issue 3: omni-0.5b int8 fits in 2.1 GB peak RSS
PROMPT_TOKENS = 64
DECODE_STEPS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--preset", default="omni-0.5b", help="model preset (default omni-0.5b)")
    parser.add_argument("--work", default=None, help="export folder (default build/bench/<preset>)")
    parser.add_argument("--parts", default="vision,speech,decoder")
    parser.add_argument("--reexport", action="store_true", help="export again even if --work has the graphs")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # measure one export folder


def work_dir(args) -> Path:
    return Path(args.work or Path("build") / "bench" / args.preset)


def ensure_export(preset: str, work: Path, parts=("vision", "speech", "decoder"), reexport: bool = False,
                  progress: bool = True) -> tuple[Path, Path, dict]:
    """fp32 and int8 export folders of ``preset`` (random weights, seed 0) under ``work``."""
    from tristream_ros.runtime.export_onnx import export_model
    from tristream_ros.runtime.manifest import MANIFEST_FILE, ExportManifest
    from tristream_ros.runtime.quantize import quantize_export
    fp32, int8 = work / "fp32", work / "int8"
    timings = {}
    have = (fp32 / MANIFEST_FILE).is_file() and set(ExportManifest.load(fp32).files) >= set(parts)
    if reexport or not have:
        import torch

        from tristream_ros.model.config import TriStreamConfig
        from tristream_ros.model.speech.speech_model import SpeechModel
        from tristream_ros.model.tristream_model import TriStreamModel
        torch.manual_seed(0)
        cfg = TriStreamConfig.preset(preset)
        cfg.copy.enabled = False  # random weights, no vocabulary: the copy head (a few k params) is left out
        t0 = time.perf_counter()
        model = TriStreamModel(cfg).eval()
        speech = SpeechModel(cfg.speech).eval() if "speech" in parts else None
        export_model(model, fp32, speech_model=speech, parts=tuple(parts), progress=progress)
        del model, speech
        gc.collect()
        timings["export_s"] = round(time.perf_counter() - t0, 1)
    have8 = (int8 / MANIFEST_FILE).is_file() and set(ExportManifest.load(int8).files) >= set(parts)
    if reexport or not have or not have8:
        t0 = time.perf_counter()
        quantize_export(fp32, int8, progress=progress)
        timings["quantize_s"] = round(time.perf_counter() - t0, 1)
    return fp32, int8, timings


def _child(folder: str, threads: int) -> dict:
    """Open every session of ``folder`` and run each graph once; report RSS."""
    import numpy as np

    from tristream_ros.runtime.inference import DecoderVision, OnnxInference
    t0 = time.perf_counter()
    inf = OnnxInference(folder, threads=threads)
    parts = sorted(inf.manifest.files)
    for p in parts:
        inf.session(p)
    load_s = time.perf_counter() - t0
    rss_loaded = peak_rss_gb()
    rng = np.random.default_rng(0)
    ms = {}
    if "vision" in parts:
        t = int(inf.config["vision"]["tile_size"])
        t1 = time.perf_counter()
        inf.encode_tiles(rng.uniform(0, 255, (16, 3, t, t)).astype(np.float32))
        ms["vision_16_tiles"] = 1000 * (time.perf_counter() - t1)
    if "speech" in parts:
        s = inf.speech_config
        state = inf.speech_state()
        t1 = time.perf_counter()
        for _ in range(2):
            _, _, state = inf.speech_chunk(rng.standard_normal((2 * s["chunk_frames"], s["n_mels"])).astype(np.float32),
                                           state)
        ms["speech_2_chunks"] = 1000 * (time.perf_counter() - t1)
    if "decoder" in parts:
        d = inf.hidden_size
        vis = DecoderVision(rng.standard_normal((17, d)).astype(np.float32), np.ones(17, bool),
                            rng.standard_normal(d).astype(np.float32))
        ids = rng.integers(5, inf.vocab_size, PROMPT_TOKENS)
        t1 = time.perf_counter()
        out = inf.decoder_step(ids, "speech_vision", vision=vis)
        ms["prefill"] = 1000 * (time.perf_counter() - t1)
        t1 = time.perf_counter()
        for _ in range(DECODE_STEPS):
            out = inf.decoder_step([int(out.logits.argmax())], "speech_vision", out.cache, vision=vis)
        ms["decode_per_token"] = 1000 * (time.perf_counter() - t1) / DECODE_STEPS
    return {"peak_rss_gb": round(peak_rss_gb(), 3), "peak_rss_after_load_gb": round(rss_loaded, 3),
            "load_s": round(load_s, 2), "ms": {k: round(v, 1) for k, v in ms.items()}, "parts": parts}


def measure_in_subprocess(module: str, folder: Path, threads: int, extra=()) -> dict:
    """Run ``python -m module --child folder`` in a fresh process; parse its last JSON line."""
    cmd = [sys.executable, "-m", module, "--child", str(folder), "--threads", str(threads), "--json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> int:
    if args.child:
        print(json.dumps(_child(args.child, args.threads)), flush=True)
        return 0
    from tristream_ros.runtime.manifest import ExportManifest
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    work = work_dir(args)
    fp32, int8, timings = ensure_export(args.preset, work, parts, args.reexport, progress=not args.json)
    result = {"benchmark": "memory", "preset": args.preset, "weights": "random (seed 0)",
              "exporter": ExportManifest.load(fp32).exporter, "threads": args.threads,
              "workload": f"open all sessions, 16 vision tiles, 2 speech chunks, {PROMPT_TOKENS}-token prefill "
                          f"+ {DECODE_STEPS} decode steps (speech_vision route, 17 vision tokens)",
              "machine": machine(), **timings}
    for name, folder in (("fp32", fp32), ("int8", int8)):
        man = ExportManifest.load(folder)
        m = measure_in_subprocess(__name__ if __name__ != "__main__" else "tristream_ros.bench.memory",
                                  folder, args.threads)
        result[name] = {"file_gb": sig(sum(man.bytes.values()) / GB),
                        "files_gb": {k: sig(v / GB) for k, v in man.bytes.items()}, **m}
    result["int8_vs_fp32"] = {"file_ratio": round(result["int8"]["file_gb"] / result["fp32"]["file_gb"], 3),
                              "peak_rss_ratio": round(result["int8"]["peak_rss_gb"] / result["fp32"]["peak_rss_gb"], 3)}
    result["target"] = {"int8_peak_rss_gb_max": TARGET_INT8_PEAK_RSS_GB,
                        "met": result["int8"]["peak_rss_gb"] <= TARGET_INT8_PEAK_RSS_GB}
    return emit(result, args)


if __name__ == "__main__":
    from tristream_ros.bench.common import main
    sys.exit(main(sys.modules[__name__]))
