"""Per-pixel colour branch: what colour is in each token's cell, with no view of shape.

Trained on tiles where every kind shows up in only some colours, an RGB backbone learns colour
as a shortcut for kind: session 3 measured kind accuracy 0.15 on objects of colour/kind pairs
never seen in training (0.92 on seen pairs). With ``VisionConfig.backbone_input = "luma"`` the
backbone sees luminance only (shape, shading, texture; not hue) and this branch adds the colour:

    tile RGB (n, 3, t, t) in [0, 1] --4x4 average--> (n, 3, t/4, t/4)
      --1x1 conv MLP (3 -> w -> w, GELU): per-pixel colour detectors, no spatial context-->
      --max and mean over each token's 8x8 cell--> (n, 2w, t/32, t/32)
      --1x1 conv--> (n, D, t/32, t/32), added to the backbone's tokens

1x1 convolutions and a pooling over whole cells cannot see a shape, so a token's colour part
says which colours its cell holds and its shape part (the luminance backbone) which kind: a
linear read-out of a never-seen pair combines two parts that were each trained.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import BACKBONE_STRIDE, VisionConfig

PRE_POOL = 4  # px averaged before the per-pixel MLP (sensor noise, 16x fewer pixels)
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


def to_luma(rgb01: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) RGB -> the same shape with every channel the BT.601 luminance."""
    w = torch.tensor(LUMA, dtype=rgb01.dtype, device=rgb01.device).view(1, 3, 1, 1)
    return (rgb01 * w).sum(1, keepdim=True).expand_as(rgb01)


class ColourBranch(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        w = config.colour_features
        self.pixel = nn.Sequential(nn.Conv2d(3, w, 1), nn.GELU(), nn.Conv2d(w, w, 1), nn.GELU())
        self.out = nn.Conv2d(2 * w, config.token_dim, 1)
        self.cell = BACKBONE_STRIDE // PRE_POOL  # pooled pixels per token side

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) RGB in [0, 1], h and w multiples of 32 -> (n, D, h/32, w/32)."""
        x = F.avg_pool2d(rgb01, PRE_POOL)  # (n, 3, h/4, w/4)
        x = self.pixel(x)  # (n, w, h/4, w/4) per-pixel colour features
        x = torch.cat([F.max_pool2d(x, self.cell), F.avg_pool2d(x, self.cell)], dim=1)  # (n, 2w, h/32, w/32)
        return self.out(x)
