"""`tristream bench decode`: ms per generated token of a preset's decoder step (ONNX Runtime,
fp32 and int8) against the memory-bandwidth bound.

    tristream bench decode --preset omni-0.5b --json

A decode step must stream every weight it uses from memory once, so
    bound_ms_per_token = weight bytes read per token / measured memory bandwidth
(bandwidth from a large numpy copy in the same run). Weight bytes read per token are the
initializers of the decoder graph, with the embedding table counted as the one row it gathers
and per-route expert stacks as the one route used (the tied LM head's transposed copy is read
in full). Each precision runs in a fresh subprocess: prefill of --context tokens, then
--steps greedy steps with the KV cache (median step time). Uses the export folder of
`tristream bench memory` (exports it if missing).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from tristream_ros.bench.common import GB, add_common_arguments, emit, machine, memory_bandwidth_gbs, sig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--preset", default="omni-0.5b")
    parser.add_argument("--work", default=None, help="export folder (default build/bench/<preset>, shared with memory)")
    parser.add_argument("--context", type=int, default=64, help="prompt tokens before decoding (default 64)")
    parser.add_argument("--steps", type=int, default=16, help="decode steps timed (default 16)")
    parser.add_argument("--route", default="speech", help="expert route of the steps (default speech: no vision)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)


def weight_bytes_per_token(onnx_path) -> dict:
    """Bytes of decoder weights one decode step reads (see module docstring)."""
    import numpy as np
    import onnx
    from onnx import helper

    g = onnx.load(str(onnx_path), load_external_data=False).graph
    consumers: dict[str, set] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, set()).add(n.op_type)
    total = per_token = 0
    for t in g.initializer:
        n = int(np.prod(t.dims)) if t.dims else 1
        size = n * np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        total += size
        ops = consumers.get(t.name, set())
        if ops == {"Gather"} and len(t.dims) >= 2:  # embedding rows or per-route stacks: one slice read
            per_token += size // int(t.dims[0])
        else:
            per_token += size
    return {"weights_total_bytes": total, "weights_read_per_token_bytes": per_token}


def _child(folder: str, threads: int, context: int, steps: int, route: str) -> dict:
    import numpy as np
    from tqdm import tqdm

    from tristream_ros.runtime.inference import DecoderVision, OnnxInference
    inf = OnnxInference(folder, threads=threads, parts=("decoder",))
    rng = np.random.default_rng(0)
    d = inf.hidden_size
    vis = None if route == "speech" else DecoderVision(rng.standard_normal((17, d)).astype(np.float32),
                                                      np.ones(17, bool), rng.standard_normal(d).astype(np.float32))
    t0 = time.perf_counter()
    out = inf.decoder_step(rng.integers(5, inf.vocab_size, context), route, vision=vis)
    prefill_ms = 1000 * (time.perf_counter() - t0)
    times = []
    for _ in tqdm(range(steps + 1), desc=f"decode {Path(folder).name}", file=sys.stderr, leave=False):
        t0 = time.perf_counter()
        out = inf.decoder_step([int(out.logits.argmax())], route, out.cache, vision=vis)
        times.append(time.perf_counter() - t0)
    times = times[1:]  # first step warms up
    return {"ms_per_token": round(1000 * statistics.median(times), 2),
            "ms_per_token_min": round(1000 * min(times), 2), "prefill_ms": round(prefill_ms, 1),
            "prefill_tokens": context, "steps": steps}


def run(args: argparse.Namespace) -> int:
    if args.child:
        print(json.dumps(_child(args.child, args.threads, args.context, args.steps, args.route)), flush=True)
        return 0
    from tristream_ros.bench.memory import ensure_export, measure_in_subprocess
    from tristream_ros.runtime.manifest import DECODER_FILE, ExportManifest
    work = Path(args.work or Path("build") / "bench" / args.preset)
    fp32, int8, timings = ensure_export(args.preset, work, ("vision", "speech", "decoder"), progress=not args.json)
    bw = memory_bandwidth_gbs()
    result = {"benchmark": "decode", "preset": args.preset, "weights": "random (seed 0)", "threads": args.threads,
              "route": args.route, "context_tokens": args.context, "machine": machine(),
              "memory_bandwidth": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in bw.items()}, **timings}
    extra = ["--context", str(args.context), "--steps", str(args.steps), "--route", args.route]
    for name, folder in (("fp32", fp32), ("int8", int8)):
        wb = weight_bytes_per_token(folder / DECODER_FILE)
        m = measure_in_subprocess("tristream_ros.bench.decode", folder, args.threads, extra)
        bound = wb["weights_read_per_token_bytes"] / (bw["copy_gbs"] * GB) * 1000
        result[name] = {**m, "file_gb": sig(ExportManifest.load(folder).bytes[DECODER_FILE] / GB),
                        "weights_read_per_token_gb": sig(wb["weights_read_per_token_bytes"] / GB),
                        "bound_ms_per_token": sig(bound),
                        "ms_per_token_over_bound": round(m["ms_per_token"] / bound, 2)}
    result["int8_speedup"] = round(result["fp32"]["ms_per_token"] / result["int8"]["ms_per_token"], 2)
    return emit(result, args)


if __name__ == "__main__":
    from tristream_ros.bench.common import main
    sys.exit(main(sys.modules[__name__]))
