"""The query router: which expert should answer, decided from the query alone.

Inputs are what is known when the user stops speaking, before any vision work:
the speech tokens (B, S, Ds), the transcript / typed text embedded with the decoder's own
embedding table (B, Q, d), the previous-turn text context (B, C, d), and availability flags
(is there speech, a context, a camera frame). Vision features are never an input: routing
must not pay for vision.

Output: logits over ROUTES; routes whose inputs are missing are masked out (`feasible_routes`).
"""
from __future__ import annotations

import torch
from torch import nn

from tristream_ros.model.config import ROUTES, FusionConfig

NEG_INF = -1e9


def feasible_routes(has_speech: torch.Tensor, has_vision: torch.Tensor) -> torch.Tensor:
    """(B,) bool, (B,) bool -> (B, 4) bool. "speech" (query-only) is always feasible (it also
    answers typed queries); "vision"/"trimodal" need a camera frame; "speech_vision" needs both."""
    has_speech, has_vision = has_speech.bool(), has_vision.bool()
    ones = torch.ones_like(has_vision)
    return torch.stack([ones, has_vision, has_vision & has_speech, has_vision], dim=-1)


def cascade_order(has_speech: bool, has_vision: bool) -> tuple[str, ...]:
    """Cheapest first. Spoken: speech -> speech_vision -> trimodal; typed: speech -> vision -> trimodal."""
    if not has_vision:
        return ("speech",)
    return ("speech", "speech_vision", "trimodal") if has_speech else ("speech", "vision", "trimodal")


def cheapest_route(fusion: FusionConfig, spoken: bool, needs_vision: bool, needs_context: bool) -> str:
    """The cheapest expert whose inputs cover a query: the speech expert when it needs neither
    the scene nor the previous turn, else the vision expert of its input kind (speech_vision for
    spoken, vision for typed queries) when that expert reads what the query needs
    (`fusion.context_routes` for the previous turn), else the trimodal expert."""
    if not needs_vision and (not needs_context or fusion.reads_context("speech")):
        return "speech"
    base = "speech_vision" if spoken else "vision"
    if needs_context and not fusion.reads_context(base):
        return "trimodal"
    return base


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, T, D), mask (B, T) -> (B, D); zeros where the mask is empty."""
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class QueryRouter(nn.Module):
    def __init__(self, speech_dim: int, text_dim: int, hidden: int, num_routes: int = len(ROUTES)):
        super().__init__()
        self.speech_proj = nn.Linear(speech_dim, hidden)
        self.text_proj = nn.Linear(text_dim, hidden)
        self.context_proj = nn.Linear(text_dim, hidden)
        self.mlp = nn.Sequential(nn.LayerNorm(3 * hidden + 3), nn.Linear(3 * hidden + 3, hidden),
                                 nn.GELU(), nn.Linear(hidden, num_routes))

    def forward(self, speech: torch.Tensor, speech_mask: torch.Tensor, text: torch.Tensor,
                text_mask: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor,
                has_vision: torch.Tensor, spoken: torch.Tensor | None = None) -> torch.Tensor:
        """Returns masked logits (B, 4): infeasible routes get a large negative value.
        spoken (B,) bool: the query was spoken (default: it has speech tokens); a spoken query
        may come with a transcript only (e.g. from the pocketsphinx front end)."""
        has_speech = speech_mask.any(-1) if spoken is None else spoken.bool()
        has_context = context_mask.any(-1)
        feats = torch.cat([
            _masked_mean(self.speech_proj(speech), speech_mask),
            _masked_mean(self.text_proj(text), text_mask),
            _masked_mean(self.context_proj(context), context_mask),
            torch.stack([has_speech, has_context, has_vision.bool()], -1).to(speech.dtype),
        ], dim=-1)
        logits = self.mlp(feats)  # (B, 4)
        return logits.masked_fill(~feasible_routes(has_speech, has_vision), NEG_INF)
