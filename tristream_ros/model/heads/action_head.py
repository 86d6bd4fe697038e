"""Action head: what the robot should do, and where.

From the decoder's hidden state at the last prompt position h (B, d):
* action logits over `ActionConfig.actions` (B, A); confidence = softmax probability;
* a pointer over the (projected) vision tokens (B, N): the target is the chosen token's grid
  cell, refined by a predicted offset inside the cell, as normalised image coordinates
  (u right, v down, both in [0, 1]).

The pointer only exists when vision tokens were computed (vision routes); on the speech route
the target is None.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

NEG_INF = -1e9


@dataclass
class ActionPrediction:
    name: str
    confidence: float
    target_uv: tuple[float, float] | None


class ActionHead(nn.Module):
    def __init__(self, hidden_size: int, num_actions: int, pointer_dim: int, attr_dim: int = 0):
        super().__init__()
        self.classifier = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(),
                                        nn.Linear(hidden_size, num_actions))
        self.query = nn.Linear(hidden_size, pointer_dim)
        self.key = nn.Linear(hidden_size, pointer_dim)
        self.offset = nn.Linear(pointer_dim, 2)
        self.scale = pointer_dim ** -0.5
        # keys from per-token attributes too (the copy head's probe, ActionConfig.pointer_attributes)
        self.attr_key = nn.Linear(attr_dim, pointer_dim) if attr_dim > 0 else None

    def forward(self, h: torch.Tensor, vis_tokens: torch.Tensor | None = None,
                vis_mask: torch.Tensor | None = None, attrs: torch.Tensor | None = None):
        """h (B, d); vis_tokens (B, N, d); vis_mask (B, N) bool; attrs (B, N, attr_dim) (with attr_dim).
        Returns action_logits (B, A), pointer_logits (B, N) | None, offsets (B, N, 2) in [0,1] | None."""
        logits = self.classifier(h)
        if vis_tokens is None:
            return logits, None, None
        q = self.query(h).unsqueeze(1)  # (B, 1, P)
        k = self.key(vis_tokens)  # (B, N, P)
        if self.attr_key is not None:
            if attrs is None:
                raise ValueError("this action head's pointer reads token attributes: pass attrs")
            k = k + self.attr_key(attrs)
        ptr = (q * k).sum(-1) * self.scale  # (B, N)
        if vis_mask is not None:
            ptr = ptr.masked_fill(~vis_mask, NEG_INF)
        offsets = torch.sigmoid(self.offset(q * k))  # (B, N, 2) position inside the cell
        return logits, ptr, offsets


def cell_centres_uv(rows: torch.Tensor, cols: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """rows/cols (..., N) -> (..., N, 2) (u, v) of the cell centres."""
    h, w = grid_hw
    return torch.stack([(cols.float() + 0.5) / w, (rows.float() + 0.5) / h], dim=-1)


def pointer_targets(target_uv: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                    mask: torch.Tensor, grid_hw: tuple[int, int]):
    """Training labels for the pointer.

    target_uv (B, 2); rows/cols/mask (B, N). Returns (index (B,) of the kept token nearest to
    the target, offset (B, 2) of the target inside that token's cell, clamped to [0, 1])."""
    h, w = grid_hw
    centres = cell_centres_uv(rows, cols, grid_hw)  # (B, N, 2)
    dist = (centres - target_uv.unsqueeze(1)).pow(2).sum(-1).masked_fill(~mask, float("inf"))
    index = dist.argmin(-1)  # (B,)
    r = rows.gather(1, index[:, None]).squeeze(1).float()
    c = cols.gather(1, index[:, None]).squeeze(1).float()
    offset = torch.stack([target_uv[:, 0] * w - c, target_uv[:, 1] * h - r], -1).clamp(0.0, 1.0)
    return index, offset


def decode_target(pointer_logits: torch.Tensor, offsets: torch.Tensor, rows: torch.Tensor,
                  cols: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """(B, N) logits, (B, N, 2) offsets -> (B, 2) (u, v) of the best token + its offset."""
    h, w = grid_hw
    index = pointer_logits.argmax(-1)  # (B,)
    off = offsets.gather(1, index[:, None, None].expand(-1, 1, 2)).squeeze(1)  # (B, 2)
    r = rows.gather(1, index[:, None]).squeeze(1).float()
    c = cols.gather(1, index[:, None]).squeeze(1).float()
    return torch.stack([(c + off[:, 0]) / w, (r + off[:, 1]) / h], -1).clamp(0.0, 1.0)


def action_losses(action_logits, pointer_logits, offsets, action, target_uv, has_target,
                  rows, cols, mask, grid_hw):
    """Cross-entropy on the action (label -100 ignored), pointer CE and offset L1 on examples
    with a target and vision tokens. Returns (action_loss, pointer_loss, offset_loss)."""
    zero = action_logits.sum() * 0.0
    a_loss = F.cross_entropy(action_logits, action, ignore_index=-100) if bool((action != -100).any()) else zero
    if pointer_logits is None:
        return a_loss, zero, zero
    sel = has_target.bool() & mask.any(-1)
    if not bool(sel.any()):
        return a_loss, zero, zero
    index, offset = pointer_targets(target_uv[sel].float(), rows[sel], cols[sel], mask[sel], grid_hw)
    p_loss = F.cross_entropy(pointer_logits[sel], index)
    pred_off = offsets[sel].gather(1, index[:, None, None].expand(-1, 1, 2)).squeeze(1)
    o_loss = F.l1_loss(pred_off, offset)
    return a_loss, p_loss, o_loss
