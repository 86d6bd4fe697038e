"""`tristream bench vision`: STVE at its default budget versus the same backbone run densely.

    tristream bench vision --preset demo --json
    tristream bench vision --model models/demo --json     (the shipped, trained STVE)

Workload (stated in the JSON): for each of --scenes rendered scenes (tristream_ros.data.scenes,
4 frames each with the generator's camera noise and motion), the 4 frames streamed through STVE
(tile cache + temporal pooling + importance budget), then 4 frames of a static camera (the
scene's first frame) with a 12x12 px square moving by 8 px per frame. STVE is reset between
scenes, so every scene starts by encoding all 16 tiles.

Baseline, same weights: the MobileViT backbone over the whole 256x256 frame every frame, all
8x8 = 64 tokens kept. Figures (per frame, means over the workload):
    tokens_kept, keep_ratio (kept / 64), tiles_reencoded
    encoder: GFLOPs (counted by torch.utils.flop_counter on the backbone, CPU attention kernel
        registered (common.count_cpu_attention_flops); STVE = tiles
        re-encoded x per-tile FLOPs + scorer) and ms (eager PyTorch, --threads)
    decoder_vision: GFLOPs the fusion decoder spends on the vision tokens of one query
        (projector, cross-attention K/V and per-token attention, model/fusion/cascade.py),
        speech_vision route, 24-token prompt + 8-token answer, kept tokens versus 64
    flops_reduction (fractions): 1 - STVE / dense, for tokens, encoder, and encoder + decoder
Random weights (the default): the learned scorer is untrained, so how many tokens clear its
threshold is an accident of the initialisation (the budget, <= 27% of tokens, bounds it); FLOPs
per tile and the tile cache's savings do not depend on the weights. `--model DIR` loads a
trained checkpoint's STVE (its config replaces --preset): the keep ratio the shipped scorer
actually produces on these scenes.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from tristream_ros.bench.common import add_common_arguments, count_cpu_attention_flops, emit, machine, set_threads, sig

TARGET_KEEP_RATIO_MAX = 0.27


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--preset", default="demo", help="vision/fusion preset (default demo)")
    parser.add_argument("--scenes", type=int, default=6, help="rendered scenes in the workload (default 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None,
                        help="checkpoint folder whose trained STVE to measure (default: random weights of --preset)")


def _moving_square(frame, step: int):
    import numpy as np
    f = frame.copy()
    x = 40 + 8 * step
    f[100:112, x:x + 12] = np.array([250, 30, 30], np.uint8)
    return f


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from tristream_ros.data.scenes import render
    from tristream_ros.model.config import TriStreamConfig
    from tristream_ros.model.fusion.cascade import route_cost
    from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder
    from tristream_ros.model.vision.tiles import prepare_frame, PIXEL_MAX

    set_threads(args.threads)
    count_cpu_attention_flops()  # MobileViT attention is SDPA: counted, not 0
    torch.manual_seed(args.seed)
    if args.model:
        from tristream_ros.model.checkpoint import load_checkpoint
        model = load_checkpoint(args.model)
        cfg, enc = model.config, model.vision.eval()
        weights = f"trained ({args.model})"
    else:
        cfg = TriStreamConfig.preset(args.preset)
        enc = SparseTemporalVisionEncoder(cfg.vision).eval()
        weights = f"random (seed {args.seed})"
    dense_n = cfg.vision.dense_tokens
    per_tile = enc.flops_per_tile()
    dense_frame = enc.dense_frame_flops()
    from tristream_ros.model.vision.importance import scorer_flops
    scorer = scorer_flops(cfg.vision)

    rows = []  # per frame: (kind, kept, tiles, stve_ms, dense_ms)
    for s in tqdm(range(args.scenes), desc="vision scenes", file=sys.stderr, disable=args.json):
        frames = list(render(args.seed + s).frames)
        stream = [("scene", f) for f in frames] + [("static", _moving_square(frames[0], i)) for i in range(4)]
        enc.reset()
        for kind, frame in stream:
            t0 = time.perf_counter()
            tok = enc.encode(frame)
            stve_ms = 1000 * (time.perf_counter() - t0)
            x = prepare_frame(torch.from_numpy(frame), cfg.vision)[None] / PIXEL_MAX
            with torch.inference_mode():
                t0 = time.perf_counter()
                enc.features(x)  # the same backbone (+ colour branch) on the whole frame
                dense_ms = 1000 * (time.perf_counter() - t0)
            rows.append((kind, tok.num_tokens, tok.tiles_reencoded, stve_ms, dense_ms))

    def summary(sel):
        kept = [r[1] for r in sel]
        tiles = [r[2] for r in sel]
        return {"frames": len(sel), "tokens_kept": round(statistics.mean(kept), 2),
                "keep_ratio": round(statistics.mean(kept) / dense_n, 4), "tokens_kept_max": max(kept),
                "tiles_reencoded": round(statistics.mean(tiles), 2),
                "stve_ms": round(statistics.median(r[3] for r in sel), 2),
                "dense_ms": round(statistics.median(r[4] for r in sel), 2)}

    kept_mean = statistics.mean(r[1] for r in rows)
    tiles_mean = statistics.mean(r[2] for r in rows)
    stve_gflops = (tiles_mean * per_tile + scorer) / 1e9
    dense_gflops = dense_frame / 1e9

    def dec_vision(n):  # decoder FLOPs for the vision tokens of one speech_vision query
        return (route_cost(cfg, "speech_vision", 24, 8, vision_tokens=n).total
                - route_cost(cfg, "speech_vision", 24, 8, vision_tokens=0).total) / 1e9

    dec_sparse = statistics.mean(dec_vision(r[1]) for r in rows)
    dec_dense = dec_vision(dense_n)
    stve_ms = statistics.mean(r[3] for r in rows)
    dense_ms = statistics.mean(r[4] for r in rows)
    result = {
        "benchmark": "vision", "preset": cfg.name if args.model else args.preset, "weights": weights,
        "threads": args.threads, "machine": machine(),
        "workload": f"{args.scenes} rendered scenes x (4 scene frames with camera noise + 4 static-camera frames "
                    "with a moving 12 px square); STVE reset per scene",
        "dense_tokens": dense_n, "max_tokens_by_budget": cfg.vision.max_tokens,
        "tokens_kept": round(kept_mean, 2), "keep_ratio": round(kept_mean / dense_n, 4),
        "tiles_reencoded_per_frame": round(tiles_mean, 2), "tiles_per_frame": cfg.vision.num_tiles,
        "encoder": {"stve_gflops_per_frame": sig(stve_gflops), "dense_gflops_per_frame": sig(dense_gflops),
                    "gflops_per_tile": sig(per_tile / 1e9), "stve_ms_per_frame": round(stve_ms, 2),
                    "dense_ms_per_frame": round(dense_ms, 2),
                    "flops_reduction": round(1 - stve_gflops / dense_gflops, 4),
                    "ms_reduction": round(1 - stve_ms / dense_ms, 4)},
        "decoder_vision": {"sparse_gflops_per_query": sig(dec_sparse), "dense_gflops_per_query": sig(dec_dense),
                           "flops_reduction": round(1 - dec_sparse / dec_dense, 4)},
        "by_kind": {k: summary([r for r in rows if r[0] == k]) for k in ("scene", "static")},
    }
    total_sparse = stve_gflops + dec_sparse
    total_dense = dense_gflops + dec_dense
    result["token_reduction"] = round(1 - kept_mean / dense_n, 4)
    result["flops_reduction"] = round(1 - total_sparse / total_dense, 4)  # encoder + decoder vision path
    result["target"] = {"keep_ratio_max": TARGET_KEEP_RATIO_MAX, "met": result["keep_ratio"] <= TARGET_KEEP_RATIO_MAX}
    return emit(result, args)


if __name__ == "__main__":
    from tristream_ros.bench.common import main
    sys.exit(main(sys.modules[__name__]))
