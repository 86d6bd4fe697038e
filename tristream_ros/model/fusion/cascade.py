"""Cheapest-sufficient-first cascade over the experts, and FLOP accounting per route.

The cascade runs the experts of `cascade_order(...)` starting at the router's choice (or at
the cheapest one); each expert's prefill gives a confidence (its sufficiency head); below
`CascadeConfig.escalate_below` the query goes to the next expert. Every attempted expert's
cost is counted, so a benchmark can compare the expected FLOPs of a mixed workload with
always running the tri-modal expert (`flops_reduction`).

FLOPs here are 2 x multiply-accumulates of the matmuls (norms, softmax, RoPE ignored).
Depth-cascaded experts (FusionConfig.route_exit_fractions): an expert pays only the decoder layers
it runs (its exit depth) and the cross-attention / bilateral layers inside that depth; a failed
cheaper attempt pays its whole prefill (its KV cache cannot be reused by another expert: route
embedding, adapters and depth differ). The vision encoder is paid once per query, on the first
vision expert attempted; the speech encoder is not counted here (same for every route of a
spoken query; `bench routing` reports it under `system`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from tristream_ros.model.config import ROUTES, VISION_ROUTES, TriStreamConfig

ALWAYS = "trimodal"


@dataclass
class RouteCost:
    """FLOPs of one expert attempt, by part."""

    route: str
    vision_encoder: float = 0.0  # STVE (paid once per query, on the first vision route)
    vision_projection: float = 0.0  # projector + cross-attention K/V of the kept tokens
    prefill: float = 0.0
    decode: float = 0.0

    @property
    def total(self) -> float:
        return self.vision_encoder + self.vision_projection + self.prefill + self.decode


def prompt_length(route: str, speech_tokens: int, query_words: int, context_words: int = 0,
                  context_routes: Sequence[str] = ("trimodal",)) -> int:
    """Prefill length of TriStreamModel's prompt for `route`:
    <bos> speech <sep> [context, on fusion.context_routes] <sep> query <sep>."""
    return 4 + speech_tokens + query_words + (context_words if route in context_routes else 0)


def _layer_token_macs(cfg: TriStreamConfig, context: int) -> float:
    """MACs of one decoder layer for one new token attending to `context` keys (trunk + expert)."""
    f = cfg.fusion
    d, hd, H, kv = f.hidden_size, f.head_dim, f.num_heads, f.num_kv_heads
    attn = d * H * hd * 2 + d * kv * hd * 2 + 2 * H * hd * context
    ffn = 3 * d * f.intermediate_size
    expert = 3 * d * f.expert_rank if f.expert_kind == "adapter" else 0
    return attn + ffn + expert


def _vision_token_macs(cfg: TriStreamConfig, route: str, n_vision: int) -> tuple[float, float]:
    """(per-query MACs: projector + cross K/V, per-token MACs of the vision path)."""
    if route not in VISION_ROUTES or n_vision <= 0:
        return 0.0, 0.0
    f = cfg.fusion
    d, hd, H, kv = f.hidden_size, f.head_dim, f.num_heads, f.num_kv_heads
    depth = f.exit_layer(route)
    xlayers = f.trimodal_cross_attn_layers if route == "trimodal" else f.cross_attn_layers
    xlayers = [i for i in xlayers if i < depth]  # only the layers this expert runs
    n_x, n_b = len(xlayers), depth - len(xlayers)
    once = n_vision * (cfg.vision_dim * d + d * d) + d * d  # projector MLP + pooled projection
    once += n_x * n_vision * 2 * d * kv * hd  # cross-attention K/V, cached for the whole answer
    per_token = n_x * (2 * d * H * hd + 2 * H * hd * n_vision) + n_b * 2 * d
    return float(once), float(per_token)


def route_cost(cfg: TriStreamConfig, route: str, prompt_tokens: int, answer_tokens: int,
               vision_tokens: int = 0, vision_encoder_flops: float = 0.0,
               include_decode: bool = True) -> RouteCost:
    """FLOPs for one expert on one query.

    prompt_tokens: prefill length (incl. speech tokens and specials); answer_tokens: streamed
    tokens (+1 for <eos>); vision_tokens: STVE tokens this expert reads (ignored on non-vision
    routes; all grid tokens for a trimodal expert with fusion.trimodal_dense_vision);
    vision_encoder_flops: the STVE cost, charged on vision routes (pass 0 if already paid).
    """
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; expected one of {ROUTES}")
    f = cfg.fusion
    once, per_tok_vis = _vision_token_macs(cfg, route, vision_tokens)
    L = f.exit_layer(route)  # layers this expert runs
    prefill = sum(L * _layer_token_macs(cfg, t + 1) + per_tok_vis for t in range(prompt_tokens))
    prefill += f.hidden_size * f.vocab_size  # LM head on the last prompt position
    decode = 0.0
    if include_decode:
        for j in range(answer_tokens):
            decode += L * _layer_token_macs(cfg, prompt_tokens + j + 1) + per_tok_vis
            decode += f.hidden_size * f.vocab_size
    return RouteCost(route=route,
                     vision_encoder=float(vision_encoder_flops) if route in VISION_ROUTES else 0.0,
                     vision_projection=2.0 * once, prefill=2.0 * prefill, decode=2.0 * decode)


@dataclass
class CascadeTrace:
    """What the cascade did for one query."""

    route: str
    confidence: float
    attempts: list[tuple[str, float]] = field(default_factory=list)  # (route, confidence)
    costs: list[RouteCost] = field(default_factory=list)

    @property
    def escalations(self) -> int:
        return max(0, len(self.attempts) - 1)

    @property
    def flops(self) -> float:
        return sum(c.total for c in self.costs)


def run_cascade(order: Sequence[str], start: str, threshold: float,
                evaluate: Callable[[str], float]) -> CascadeTrace:
    """Try experts from `start` along `order` until one's confidence >= threshold (the last
    one always answers). `evaluate(route) -> confidence` runs that expert's prefill."""
    if start not in order:
        start = order[0]
    trace = CascadeTrace(route=start, confidence=0.0)
    for route in order[order.index(start):]:
        conf = float(evaluate(route))
        trace.attempts.append((route, conf))
        trace.route, trace.confidence = route, conf
        if conf >= threshold:
            break
    return trace


def route_vision_tokens(cfg: TriStreamConfig, route: str, sparse_tokens: int) -> int:
    """Vision tokens `route` reads: none off the vision routes, the dense grid for the trimodal
    expert with fusion.trimodal_dense_vision, else the sparse STVE tokens."""
    if route not in VISION_ROUTES:
        return 0
    if route == "trimodal" and cfg.fusion.trimodal_dense_vision:
        h, w = cfg.vision_grid
        return h * w
    return sparse_tokens


def trace_costs(cfg: TriStreamConfig, trace: CascadeTrace, prompt_tokens: dict[str, int],
                answer_tokens: int, vision_tokens: int | dict[str, int],
                vision_encoder_flops: float) -> list[RouteCost]:
    """Costs of every attempt in `trace`: prefill for each (failed cheaper attempts included),
    decode for the answering one, the vision encoder once (on the first vision route attempted).
    vision_tokens: sparse tokens per query (the trimodal expert reads the dense grid when
    configured so: `route_vision_tokens`), or a {route: tokens read} dict (measured)."""
    costs, vision_paid = [], False
    for route, _ in trace.attempts:
        enc = 0.0
        if route in VISION_ROUTES and not vision_paid:
            enc, vision_paid = vision_encoder_flops, True
        n = vision_tokens.get(route, 0) if isinstance(vision_tokens, dict) \
            else route_vision_tokens(cfg, route, vision_tokens)
        costs.append(route_cost(cfg, route, prompt_tokens[route], answer_tokens, n, enc,
                                include_decode=route == trace.route))
    trace.costs = costs
    return costs


def flops_reduction(cascade_flops: Sequence[float], always_trimodal_flops: Sequence[float]) -> float:
    """1 - E[cascade] / E[always tri-modal] over a workload (a fraction; 0.67 = 67% less)."""
    base = float(sum(always_trimodal_flops))
    if base <= 0:
        raise ValueError("always-trimodal FLOPs must be positive")
    return 1.0 - float(sum(cascade_flops)) / base
