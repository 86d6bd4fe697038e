"""Temporal pooling of per-grid-cell token features over a short window of frames.

The same pure function pools a training batch (B, T, N, D) and the streaming window kept by
``TemporalPool``, so training and inference agree.

Modes (``VisionConfig.temporal_pool``):
    ema   weights decay**age, normalised (age 0 = newest frame): recent frames dominate
    mean  plain average over the window
    last  the newest frame only (no pooling)
"""

from __future__ import annotations

from collections import deque

import torch


def pool_frames(x: torch.Tensor, mode: str, decay: float) -> torch.Tensor:
    """x (B, T, N, D), oldest frame first -> pooled (B, N, D)."""
    t = x.shape[1]
    if mode == "last" or t == 1:
        return x[:, -1]
    if mode == "mean":
        return x.mean(dim=1)
    if mode == "ema":
        age = torch.arange(t - 1, -1, -1, dtype=x.dtype, device=x.device)  # (T,) newest has age 0
        w = decay ** age
        w = w / w.sum()
        return torch.einsum("t,btnd->bnd", w, x)
    raise ValueError(f"unknown temporal_pool mode {mode!r}; expected ema, mean or last")


class TemporalPool:
    """Streaming window of the last ``window`` dense grids (N, D)."""

    def __init__(self, window: int, mode: str, decay: float):
        self.window, self.mode, self.decay = window, mode, decay
        self.frames: deque[torch.Tensor] = deque(maxlen=window)

    def reset(self) -> None:
        self.frames.clear()

    def __len__(self) -> int:
        return len(self.frames)

    def push(self, grid: torch.Tensor) -> torch.Tensor:
        """grid (N, D) of the newest frame -> pooled (N, D) over the window."""
        self.frames.append(grid)
        if len(self.frames) == 1:
            return grid
        stacked = torch.stack(tuple(self.frames)).unsqueeze(0)  # (1, T, N, D)
        return pool_frames(stacked, self.mode, self.decay)[0]
