"""Learned token importance, the adaptive token budget, and the straight-through keep mask.

Scorer: LayerNorm -> Linear(D, hidden) -> GELU -> Linear(hidden, 1) over each (temporally pooled)
token; OmniSIFT found a 1-layer selector sufficient, so ``scorer_hidden=0`` gives LayerNorm ->
Linear(D, 1).

Budget (inference and training): the image complexity c in [0, 1] (mean clipped tile edge energy,
``tiles.complexity_from_edges``) sets

    k = clamp(ceil(budget_alpha * c * N), min_tokens, max_tokens),   max_tokens = floor(0.27 * N)

so a busy scene keeps up to 17 of 64 tokens and a flat one keeps ``min_tokens``.

Inference keeps the tokens whose score sigmoid(logit) >= score_threshold, best first, at most k
and at least ``min_tokens``. Training uses a hard top-k mask in the forward pass and the gradient
of sigmoid(logit) in the backward pass (straight-through estimator), plus ``budget_loss`` pulling
the expected number of kept tokens, sum(sigmoid), towards k.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import VisionConfig


class ImportanceScorer(nn.Module):
    """tokens (..., N, D) -> logits (..., N); importance = sigmoid(logits)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        if hidden > 0:
            self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 1))
        else:
            self.mlp = nn.Sequential(nn.Linear(dim, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(tokens)).squeeze(-1)


def token_budget(complexity: torch.Tensor, config: VisionConfig) -> torch.Tensor:
    """complexity (...,) in [0, 1] -> number of tokens to keep (...,) long."""
    n = config.dense_tokens
    k = torch.ceil(config.budget_alpha * complexity.clamp(0.0, 1.0) * n - 1e-6)
    return k.long().clamp(min=config.min_tokens, max=config.max_tokens)


def select_tokens(scores: torch.Tensor, k: int, config: VisionConfig) -> torch.Tensor:
    """Inference selection for one frame. scores (N,) in [0, 1] -> kept indices (M,) in raster
    order, min_tokens <= M <= k: the tokens passing ``score_threshold``, best first, capped at k."""
    passing = int((scores >= config.score_threshold).sum())
    m = max(min(passing, k), min(config.min_tokens, scores.numel()))
    if m == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    top = torch.topk(scores, m, sorted=True).indices
    return torch.sort(top).values


def ste_keep_mask(logits: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Straight-through keep mask. logits (B, N), k (B,) -> mask (B, N) float: exactly the top-k
    tokens are 1 in the forward pass; the backward pass sees d sigmoid(logits)."""
    b, n = logits.shape
    soft = torch.sigmoid(logits)
    rank = logits.detach().argsort(dim=-1, descending=True).argsort(dim=-1)  # (B, N) rank of each token
    hard = (rank < k.view(b, 1)).to(soft.dtype)
    return hard + (soft - soft.detach())  # exactly 0/1 forward; d sigmoid backward


def budget_loss(logits: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Budget regulariser: ((sum_i sigmoid(logit_i) - k) / N)^2, averaged over the batch."""
    n = logits.shape[-1]
    expected = torch.sigmoid(logits).sum(dim=-1)  # (B,)
    return (((expected - k.to(expected.dtype)) / n) ** 2).mean()


def scorer_flops(config: VisionConfig) -> int:
    """Multiply-adds x 2 of the scorer over one dense frame (LayerNorm ignored)."""
    d, h, n = config.token_dim, config.scorer_hidden, config.dense_tokens
    macs = d * h + h if h > 0 else d
    return 2 * macs * n


def max_keep_ratio(config: VisionConfig) -> float:
    return config.max_tokens / config.dense_tokens

