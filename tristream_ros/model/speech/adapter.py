"""k-frame concatenation adapter: encoder frames -> speech tokens in the LLM's width.

LLaMA-Omni2's speech adapter: concatenate every k=5 consecutive encoder frames (50 -> 10
frames/s), then a 2-layer MLP (Linear -> ReLU -> Linear) into the LLM's hidden size.

    x (B, T, D) -> (B, T // k, k * D) -> Linear(k*D, H) -> ReLU -> Linear(H, llm_dim)

The streaming form (``AdapterStream``) keeps fewer than k leftover frames between calls; at
``finish`` the remainder is zero-padded to a full group, matching ``SpeechAdapter.forward``
with ``pad=True``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tristream_ros.errors import InputError
from tristream_ros.model.speech.config import SpeechConfig


class SpeechAdapter(nn.Module):
    def __init__(self, cfg: SpeechConfig):
        super().__init__()
        self.k = cfg.adapter_k
        self.d_model = cfg.d_model
        self.linear1 = nn.Linear(cfg.adapter_k * cfg.d_model, cfg.adapter_hidden)
        self.linear2 = nn.Linear(cfg.adapter_hidden, cfg.llm_dim)

    def forward(self, x: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """x (B, T, D) -> (B, ceil(T / k), llm_dim) with ``pad`` (zero frames appended), else floor."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise InputError(f"SpeechAdapter expects (B, T, {self.d_model}), got {tuple(x.shape)}")
        b, t, d = x.shape
        rem = t % self.k
        if rem and pad:
            x = torch.cat([x, x.new_zeros(b, self.k - rem, d)], dim=1)
        elif rem:
            x = x[:, : t - rem]
        g = x.shape[1] // self.k
        x = x.reshape(b, g, self.k * d)  # (B, T/k, k*D): k consecutive frames side by side
        return self.linear2(F.relu(self.linear1(x)))

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths + self.k - 1) // self.k


class AdapterStream:
    """Incremental adapter over encoder frames (t, D) arriving in pieces."""

    def __init__(self, adapter: SpeechAdapter):
        self.adapter = adapter
        self.reset()

    def reset(self) -> None:
        p = next(self.adapter.parameters())
        self._rest = torch.zeros(0, self.adapter.d_model, dtype=p.dtype, device=p.device)

    @torch.no_grad()
    def accept(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (t, D) -> tokens (g, llm_dim) for each complete group of k frames."""
        x = torch.cat([self._rest, frames], dim=0)
        g = x.shape[0] // self.adapter.k
        self._rest = x[g * self.adapter.k :]
        if g == 0:
            return x.new_zeros(0, self.adapter.linear2.out_features)
        return self.adapter(x[None, : g * self.adapter.k], pad=False)[0]

    @torch.no_grad()
    def finish(self) -> torch.Tensor:
        x = self._rest
        self.reset()
        if x.shape[0] == 0:
            return x.new_zeros(0, self.adapter.linear2.out_features)
        return self.adapter(x[None], pad=True)[0]
