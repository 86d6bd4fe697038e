"""The fusion decoder: a Qwen2-style LM with per-route experts and vision on demand.

Trunk (parameter names follow Hugging Face's Qwen2 so `pretrained.py` maps weights 1:1):
    x = embed_tokens(ids)                          (or embeddings supplied by the caller)
    for each layer:
        x = x + self_attn(input_layernorm(x))      RoPE, grouped-query attention, KV cache
        x = x + cross_attn(x, vision)              only in cross-attention layers, vision routes
          | x + bilateral(x, pooled vision)        other layers, vision routes (cheap)
        x = x + mlp(post_attention_layernorm(x)) + expert_r(post_attention_layernorm(x))
    h = norm(x);  logits = h @ embed_tokens.weight^T   (tied) or lm_head(h)

Routes without vision ("speech") execute neither cross-attention nor bilateral connections,
and the caller never has to compute vision tokens for them.

Depth-cascaded experts (FusionConfig.route_exit_fractions): route r runs only layers
0 .. exit_r - 1 and reads h = exit_norms[r](x) there (routes at full depth use `norm`). The
layers a route skips are not computed; with a KV cache they get placeholders (zero K/V of
the new positions), so every layer's cache keeps the same length and
`KVCache.stacked()` still works.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from tristream_ros.model.config import ROUTES, VISION_ROUTES, FusionConfig
from tristream_ros.model.fusion.experts import RouteAdapters, RouteFFN

_VISION_ROUTE_IDS = tuple(i for i, r in enumerate(ROUTES) if r in VISION_ROUTES)
_TRIMODAL_ID = ROUTES.index("trimodal")


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape positions.shape + (head_dim,) in the Qwen2 / "rotate_half" layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.float().unsqueeze(-1) * inv_freq  # (..., hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (..., hd)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, T, hd); cos/sin (B, T, hd) or (T, hd)."""
    if cos.dim() == 3:
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, T, hd)
    return x * cos + _rotate_half(x) * sin


@dataclass
class LayerCache:
    k: torch.Tensor | None = None  # (B, kvH, T, hd)
    v: torch.Tensor | None = None
    xk: torch.Tensor | None = None  # cross-attention keys of the vision tokens (B, kvH, N, hd)
    xv: torch.Tensor | None = None


@dataclass
class KVCache:
    """Self-attention keys/values of every layer (+ cross-attention K/V of the vision tokens,
    computed once per query)."""

    layers: list[LayerCache] = field(default_factory=list)

    @classmethod
    def empty(cls, num_layers: int) -> "KVCache":
        return cls([LayerCache() for _ in range(num_layers)])

    @property
    def length(self) -> int:
        k = self.layers[0].k if self.layers else None
        return 0 if k is None else int(k.shape[2])

    @classmethod
    def from_stacked(cls, keys: torch.Tensor, values: torch.Tensor) -> "KVCache":
        """keys/values (L, B, kvH, P, hd) -> cache (the tensor form an exported decoder step
        takes as inputs; P may be 0)."""
        return cls([LayerCache(keys[i], values[i]) for i in range(keys.shape[0])])

    def stacked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(keys, values) each (L, B, kvH, T, hd): the tensor form of the self-attention cache."""
        return (torch.stack([layer.k for layer in self.layers]),
                torch.stack([layer.v for layer in self.layers]))


@dataclass
class VisionContext:
    """Vision tokens already projected to the decoder width.

    tokens (B, N, d); mask (B, N) bool (True = real token); pooled (B, d): importance-weighted
    mean used by the bilateral connections; attributes (B, N, A): the copy head's per-token
    attribute features (None without a copy head; the decoder itself does not read them).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor
    attributes: torch.Tensor | None = None


class SelfAttention(nn.Module):
    def __init__(self, cfg: FusionConfig):
        super().__init__()
        d, hd = cfg.hidden_size, cfg.head_dim
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, hd
        self.q_proj = nn.Linear(d, cfg.num_heads * hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(cfg.num_heads * hd, d, bias=False)

    def forward(self, x, cos, sin, attn_mask, cache: LayerCache | None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (B, kvH, T, hd)
        v = self.v_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        past = 0
        if cache is not None:
            if cache.k is not None:
                past = cache.k.shape[2]
                k = torch.cat((cache.k, k), dim=2)
                v = torch.cat((cache.v, v), dim=2)
            cache.k, cache.v = k, v
        is_causal = attn_mask is None and T > 1 and past == 0
        if attn_mask is None and T > 1 and past > 0:  # chunked prefill after a cache: explicit mask
            attn_mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                           enable_gqa=self.num_kv_heads != self.num_heads)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))  # (B, T, d)


class VisionCrossAttention(nn.Module):
    """Gated cross-attention from the text stream to the vision tokens (no RoPE; the vision
    tokens carry their grid position). Output scaled by tanh(gate), gate initialised at 0."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        d, hd = cfg.hidden_size, cfg.head_dim
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, hd
        self.norm = RMSNorm(d, cfg.rms_norm_eps)
        self.q_proj = nn.Linear(d, cfg.num_heads * hd, bias=False)
        self.k_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(cfg.num_heads * hd, d, bias=False)
        self.gate = nn.Parameter(torch.zeros(1))

    def vision_kv(self, vis: VisionContext) -> tuple[torch.Tensor, torch.Tensor]:
        B, N, _ = vis.tokens.shape
        k = self.k_proj(vis.tokens).view(B, N, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(vis.tokens).view(B, N, self.num_kv_heads, self.head_dim).transpose(1, 2)
        return k, v  # (B, kvH, N, hd)

    def forward(self, x, k, v, vis_mask):
        B, T, _ = x.shape
        q = self.q_proj(self.norm(x)).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        mask = vis_mask[:, None, None, :]  # (B, 1, 1, N)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           enable_gqa=self.num_kv_heads != self.num_heads)
        return torch.tanh(self.gate) * self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class BilateralGate(nn.Module):
    """Cheap vision path for layers without cross-attention:
        x <- x + tanh(alpha) * sigmoid(x . w + b) * v_pool
    where v_pool (B, d) is the pooled, projected vision (computed once per query)."""

    def __init__(self, d: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(d))
        self.w = nn.Parameter(torch.zeros(d))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, v_pool: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(x @ self.w + self.b).unsqueeze(-1)  # (B, T, 1)
        return torch.tanh(self.alpha) * g * v_pool.unsqueeze(1)


class SwiGLU(nn.Module):
    def __init__(self, d: int, inter: int):
        super().__init__()
        self.gate_proj = nn.Linear(d, inter, bias=False)
        self.up_proj = nn.Linear(d, inter, bias=False)
        self.down_proj = nn.Linear(inter, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: FusionConfig, index: int, num_routes: int):
        super().__init__()
        d = cfg.hidden_size
        self.index = index
        self.input_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        self.self_attn = SelfAttention(cfg)
        self.post_attention_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        if cfg.expert_kind == "adapter":
            self.mlp = SwiGLU(d, cfg.intermediate_size)
            self.experts = RouteAdapters(d, cfg.expert_rank, num_routes)
        else:
            self.mlp = None
            self.experts = RouteFFN(d, cfg.intermediate_size, num_routes)
        # Which vision routes use cross-attention here (others use the bilateral gate).
        self.xattn_routes = frozenset(
            r for r in _VISION_ROUTE_IDS
            if index in (cfg.trimodal_cross_attn_layers if r == _TRIMODAL_ID else cfg.cross_attn_layers))
        self.cross_attn = VisionCrossAttention(cfg) if self.xattn_routes else None
        self.bilateral = BilateralGate(d) if set(_VISION_ROUTE_IDS) - self.xattn_routes else None
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, attn_mask, route, route_sets, vis: VisionContext | None,
                cache: LayerCache | None):
        """route (B,) long; route_sets: (uniform_route | None) for the fast single-route path."""
        x = x + self.dropout(self.self_attn(self.input_layernorm(x), cos, sin, attn_mask, cache))
        if vis is not None:
            uniform = route_sets
            use_x = use_b = None
            if uniform is not None:
                has_vision = uniform in _VISION_ROUTE_IDS
                want_x = has_vision and uniform in self.xattn_routes
                want_b = has_vision and not want_x
            else:
                use_x = torch.tensor([int(r) in self.xattn_routes for r in route.tolist()],
                                     dtype=x.dtype, device=x.device)
                use_b = torch.tensor([int(r) in _VISION_ROUTE_IDS and int(r) not in self.xattn_routes
                                      for r in route.tolist()], dtype=x.dtype, device=x.device)
                want_x, want_b = bool(use_x.any()), bool(use_b.any())
            if want_x:
                if cache is not None and cache.xk is not None:
                    k, v = cache.xk, cache.xv
                else:
                    k, v = self.cross_attn.vision_kv(vis)
                    if cache is not None:
                        cache.xk, cache.xv = k, v
                y = self.cross_attn(x, k, v, vis.mask)
                x = x + (y if use_x is None else y * use_x.view(-1, 1, 1))
            if want_b:
                y = self.bilateral(x, vis.pooled)
                x = x + (y if use_b is None else y * use_b.view(-1, 1, 1))
        h = self.post_attention_layernorm(x)
        ff = self.experts(h, route) if self.mlp is None else self.mlp(h) + self.experts(h, route)
        return x + self.dropout(ff)


class FusionDecoder(nn.Module):
    """Decoder trunk + LM head. Inputs are embeddings so that speech tokens, route embeddings
    and text can be mixed in one sequence (see TriStreamModel for the prompt layout)."""

    def __init__(self, cfg: FusionConfig, num_routes: int = len(ROUTES)):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg, i, num_routes) for i in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        # per-route final norms of the shallow exits (only routes that stop before the last layer)
        self.exit_norms = nn.ModuleDict({ROUTES[r]: RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
                                         for r, e in enumerate(cfg.exits) if e < cfg.num_layers})
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = 0.02
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                continue
            if p.dim() == 2 and (".self_attn." in name or ".mlp." in name or name.startswith("embed")
                                 or name.startswith("lm_head") or ".cross_attn." in name):
                nn.init.normal_(p, std=std)
                if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    p.data.mul_(1.0 / math.sqrt(2 * self.cfg.num_layers))  # GPT-2 residual scaling
            elif name.endswith(".bias") and p.dim() == 1 and ".self_attn." in name:
                nn.init.zeros_(p)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., d) -> (..., vocab)."""
        return h @ self.embed_tokens.weight.t() if self.lm_head is None else self.lm_head(h)

    def forward(self, x: torch.Tensor, route: torch.Tensor, positions: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None, vision: VisionContext | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """x (B, T, d) input embeddings; route (B,) long; positions (B, T) or (T,) (default:
        continuing the cache); attn_mask (B, 1, T, T_total) bool or None (causal).
        Returns final-normed hidden states (B, T, d)."""
        B, T, _ = x.shape
        if positions is None:
            start = cache.length if cache is not None else 0
            positions = torch.arange(start, start + T, device=x.device)
        cos, sin = rope_cos_sin(positions, self.cfg.head_dim, self.cfg.rope_theta)
        uniform = int(route[0]) if (B == 1 or bool((route == route[0]).all())) else None
        if vision is not None and uniform is not None and uniform not in _VISION_ROUTE_IDS:
            vision = None  # a non-vision route never attends to vision
        exits = self.cfg.exits
        if uniform is None and self.cfg.route_exit_fractions is None:  # every route at full depth
            for i, layer in enumerate(self.layers):
                x = layer(x, cos, sin, attn_mask, route, uniform, vision,
                          cache.layers[i] if cache is not None else None)
            return self.norm(x)
        if uniform is not None:
            depth = exits[uniform]
            for i, layer in enumerate(self.layers[:depth]):
                x = layer(x, cos, sin, attn_mask, route, uniform, vision,
                          cache.layers[i] if cache is not None else None)
            if cache is not None and depth < len(self.layers):
                self._skip_cache(cache, depth, B, T, x)
            return self.exit_norm(uniform)(x)
        # mixed routes (training): run to the deepest exit, keep each example's exit state
        ex = torch.tensor([exits[int(r)] for r in route.tolist()], device=x.device)  # (B,)
        out = torch.zeros_like(x)
        for i, layer in enumerate(self.layers[:int(ex.max())]):
            x = layer(x, cos, sin, attn_mask, route, uniform, vision,
                      cache.layers[i] if cache is not None else None)
            done = ex == i + 1
            if bool(done.any()):
                out = torch.where(done.view(B, 1, 1), x, out)
        if cache is not None:
            self._skip_cache(cache, int(ex.max()), B, T, x)
        y = torch.zeros_like(out)
        for r in sorted(set(route.tolist())):
            sel = (route == r).view(B, 1, 1)
            y = torch.where(sel, self.exit_norm(int(r))(out), y)
        return y

    def exit_norm(self, route: int) -> nn.Module:
        """The final norm of `route` (ROUTES index): its exit norm, or `norm` at full depth."""
        return self.exit_norms[ROUTES[route]] if ROUTES[route] in self.exit_norms else self.norm

    def _skip_cache(self, cache: KVCache, depth: int, B: int, T: int, x: torch.Tensor) -> None:
        """Zero K/V for the T new positions of layers [depth, L) that this route does not run."""
        f = self.cfg
        zeros = x.new_zeros(B, f.num_kv_heads, T, f.head_dim)
        for lc in cache.layers[depth:]:
            lc.k = zeros if lc.k is None else torch.cat((lc.k, zeros), dim=2)
            lc.v = zeros if lc.v is None else torch.cat((lc.v, zeros), dim=2)
