"""`tristream bench routing`: expected FLOPs per query of the cascaded experts on a mixed
workload versus always running the tri-modal expert.

    tristream bench routing --preset omni-0.5b --json

FLOPs come from the model's own accounting (model/fusion/cascade.py: 2 x MACs of every matmul
of the decoder layers each expert runs (depth-cascaded experts: `fusion.route_exit_fractions`),
experts, vision projector, cross-attention and LM head; norms ignored) plus the STVE encoder
FLOPs (counted by torch.utils.flop_counter) once per query on vision routes. The trimodal expert
reads all 64 dense vision tokens when `fusion.trimodal_dense_vision` is set (the presets), the
other vision experts the sparse budget. The speech encoder is the same for every route of a
spoken query and is not counted here (see `bench speech` and `system` below).

Workload (WORKLOAD below, shares sum to 1): spoken commands, spoken general questions, spoken
scene questions, typed scene questions and spoken follow-ups that need the previous turn. Each
query type has what it needs (the scene, the previous turn), seconds of speech (10 speech
tokens/s after the k=5 adapter), transcript words, previous-turn words and answer tokens. The
route it needs is the cheapest expert whose inputs cover that (`router.cheapest_route`): with
`fusion.context_routes` including speech_vision (the presets) a follow-up is answered by the
speech_vision expert; with the trimodal expert alone reading the previous turn, by that one.

Cascade scenarios:
    router_start    the router picks the needed route (a perfect router): one prefill per query
    cheapest_start  every query starts at the cheapest expert of its cascade order and escalates
                    until the needed one (pays every attempted prefill; pessimistic)
Baselines, same queries: always the trimodal expert as configured (full depth; dense vision
tokens with `trimodal_dense_vision`, else the same sparse tokens) (`flops_reduction`), and with
all 64 dense tokens (`flops_reduction_vs_dense_trimodal`).

`system` (a separate, labelled figure): the whole query path including the speech encoder,
ours (cascade + streaming encoder over the speech actually heard + sparse vision) versus a
LLaMA-Omni2-style pipeline (always tri-modal, every spoken query padded to a 30 s encoder
window, dense vision), encoder cost from streaming_encoder.estimate_macs.
"""
from __future__ import annotations

import argparse
import sys

from tristream_ros.bench.common import add_common_arguments, count_cpu_attention_flops, emit, machine

TARGET_FLOPS_REDUCTION = 0.67
SPEECH_TOKENS_PER_S = 10  # 50 encoder frames/s / adapter k=5

# name: (share, needs the scene, speech seconds, transcript words, context words, answer tokens);
# context words > 0: the query needs the previous turn
WORKLOAD = {
    "spoken_command": (0.40, False, 1.5, 3, 0, 3),
    "spoken_general_question": (0.15, False, 3.0, 8, 0, 12),
    "spoken_scene_question": (0.30, True, 2.5, 7, 0, 8),
    "typed_scene_question": (0.05, True, 0.0, 6, 0, 8),
    "spoken_follow_up": (0.10, True, 3.0, 8, 12, 12),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--preset", default="omni-0.5b", help="model preset (default omni-0.5b)")
    parser.add_argument("--vision-tokens", type=int, default=None,
                        help="sparse vision tokens per query (default: the STVE budget maximum, 17 of 64)")


def prompt_tokens(route: str, speech_s: float, words: int, context: int,
                  context_routes: tuple[str, ...] = ("trimodal",)) -> int:
    """Prompt length as TriStreamModel lays it out: <bos> speech <sep> [context] <sep> words <sep>."""
    from tristream_ros.model.fusion.cascade import prompt_length
    return prompt_length(route, int(round(speech_s * SPEECH_TOKENS_PER_S)), words, context, context_routes)


def run(args: argparse.Namespace) -> int:
    import torch

    from tristream_ros.model.config import TriStreamConfig
    from tristream_ros.model.fusion.cascade import CascadeTrace, route_cost, route_vision_tokens, trace_costs
    from tristream_ros.model.fusion.router import cascade_order, cheapest_route
    from tristream_ros.model.vision.stve import SparseTemporalVisionEncoder

    count_cpu_attention_flops()  # STVE's MobileViT attention (SDPA) counted, not 0
    torch.manual_seed(0)
    cfg = TriStreamConfig.preset(args.preset)
    stve = SparseTemporalVisionEncoder(cfg.vision)
    vision_flops = float(stve.estimate_flops(cfg.vision.num_tiles))  # a new frame: all 16 tiles
    n_vis = args.vision_tokens if args.vision_tokens is not None else cfg.vision.max_tokens
    dense = cfg.vision.dense_tokens
    if abs(sum(w[0] for w in WORKLOAD.values()) - 1.0) > 1e-9:
        raise ValueError("WORKLOAD shares must sum to 1")

    from tristream_ros.model.speech.streaming_encoder import estimate_macs

    per_type, exp = {}, {"router_start": 0.0, "cheapest_start": 0.0, "always_trimodal": 0.0,
                         "always_trimodal_dense": 0.0}
    system = {"ours": 0.0, "padded_always_trimodal_dense": 0.0}
    for name, (share, needs_scene, speech_s, words, context, answer) in WORKLOAD.items():
        has_speech, has_vision = speech_s > 0, True  # a camera is always there on the robot
        need = cheapest_route(cfg.fusion, has_speech, needs_scene, context > 0)
        order = cascade_order(has_speech, has_vision)
        lens = {r: prompt_tokens(r, speech_s, words, context, cfg.fusion.context_routes)
                for r in ("speech", "vision", "speech_vision", "trimodal")}
        costs = {}
        for scenario, start in (("router_start", need), ("cheapest_start", order[0])):
            i0, i1 = order.index(start), order.index(need)
            trace = CascadeTrace(route=need, confidence=1.0, attempts=[(r, 0.0) for r in order[i0:i1 + 1]])
            trace_costs(cfg, trace, lens, answer + 1, n_vis, vision_flops)
            costs[scenario] = trace.flops
        costs["always_trimodal"] = route_cost(cfg, "trimodal", lens["trimodal"], answer + 1,
                                              route_vision_tokens(cfg, "trimodal", n_vis), vision_flops).total
        costs["always_trimodal_dense"] = route_cost(cfg, "trimodal", lens["trimodal"], answer + 1, dense,
                                                    vision_flops).total
        for k in exp:
            exp[k] += share * costs[k]
        if has_speech:
            system["ours"] += share * 2 * estimate_macs(cfg.speech, speech_s)
            system["padded_always_trimodal_dense"] += share * 2 * estimate_macs(cfg.speech, speech_s, window_s=30.0)
        system["ours"] += share * costs["router_start"]
        system["padded_always_trimodal_dense"] += share * costs["always_trimodal_dense"]
        per_type[name] = {"share": share, "route": need, "prompt_tokens": lens[need], "answer_tokens": answer,
                          **{f"{k}_gflops": round(v / 1e9, 3) for k, v in costs.items()}}

    result = {
        "benchmark": "routing", "preset": args.preset, "machine": machine(),
        "flops": "2 x MACs of matmuls of the layers each expert runs (cascade.route_cost) + STVE encoder "
                 "once per query on vision routes; speech encoder excluded",
        "decoder_layers": cfg.fusion.num_layers,
        "route_exit_layers": dict(zip(("speech", "vision", "speech_vision", "trimodal"), cfg.fusion.exits)),
        "context_routes": list(cfg.fusion.context_routes),
        "cross_attn_layers": {"vision_speech_vision": list(cfg.fusion.cross_attn_layers),
                              "trimodal": list(cfg.fusion.trimodal_cross_attn_layers)},
        "vision_tokens_per_query": n_vis, "dense_vision_tokens": dense,
        "trimodal_vision_tokens": route_vision_tokens(cfg, "trimodal", n_vis),
        "vision_encoder_gflops": round(vision_flops / 1e9, 3),
        "workload": per_type,
        "expected_gflops_per_query": {k: round(v / 1e9, 3) for k, v in exp.items()},
        "flops_reduction": round(1 - exp["router_start"] / exp["always_trimodal"], 4),
        "flops_reduction_cheapest_start": round(1 - exp["cheapest_start"] / exp["always_trimodal"], 4),
        "flops_reduction_vs_dense_trimodal": round(1 - exp["router_start"] / exp["always_trimodal_dense"], 4),
    }
    result["system"] = {"expected_gflops_per_query": {k: round(v / 1e9, 3) for k, v in system.items()},
                        "flops_reduction": round(1 - system["ours"] / system["padded_always_trimodal_dense"], 4)}
    result["target"] = {"flops_reduction_min": TARGET_FLOPS_REDUCTION,
                        "met": result["flops_reduction"] >= TARGET_FLOPS_REDUCTION}
    return emit(result, args)


if __name__ == "__main__":
    from tristream_ros.bench.common import main
    sys.exit(main(sys.modules[__name__]))
