"""Per-route expert parameters on a shared decoder trunk (the CMoE experts).

Each of the four experts (ROUTES) owns, in every decoder layer, either

* ``adapter`` (default): a low-rank SwiGLU adapter added beside the shared FFN,
      y = FFN(x) + B_r (silu(G_r x) * U_r x),  G_r, U_r: d -> rank,  B_r: rank -> d (zero init)
  so a new expert starts as the shared trunk and costs 3*d*rank MACs per token; or
* ``ffn``: a full SwiGLU FFN per route replacing the shared one (4x the FFN parameters).

A batch may mix routes: weights are gathered per example and applied with one batched matmul.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class RouteAdapters(nn.Module):
    """Low-rank SwiGLU adapters, one per route. forward(x (B,T,d), route (B,)) -> (B,T,d)."""

    def __init__(self, hidden_size: int, rank: int, num_routes: int):
        super().__init__()
        self.gate = nn.Parameter(torch.randn(num_routes, hidden_size, rank) * hidden_size ** -0.5)
        self.up = nn.Parameter(torch.randn(num_routes, hidden_size, rank) * hidden_size ** -0.5)
        self.down = nn.Parameter(torch.zeros(num_routes, rank, hidden_size))

    def forward(self, x: torch.Tensor, route: torch.Tensor) -> torch.Tensor:
        if route.numel() == 1 or bool((route == route[0]).all()):
            r = int(route[0])  # one route for the whole batch (inference): plain matmuls
            h = F.silu(x @ self.gate[r]) * (x @ self.up[r])  # (B, T, rank)
            return h @ self.down[r]
        h = F.silu(torch.bmm(x, self.gate[route])) * torch.bmm(x, self.up[route])  # (B, T, rank)
        return torch.bmm(h, self.down[route])  # (B, T, d)

    def macs_per_token(self) -> int:
        _, d, r = self.gate.shape
        return 3 * d * r


class RouteFFN(nn.Module):
    """A full SwiGLU FFN per route (weights stacked on a leading route axis)."""

    def __init__(self, hidden_size: int, intermediate_size: int, num_routes: int):
        super().__init__()
        d, i = hidden_size, intermediate_size
        self.gate = nn.Parameter(torch.randn(num_routes, d, i) * d ** -0.5)
        self.up = nn.Parameter(torch.randn(num_routes, d, i) * d ** -0.5)
        self.down = nn.Parameter(torch.randn(num_routes, i, d) * i ** -0.5)

    def forward(self, x: torch.Tensor, route: torch.Tensor) -> torch.Tensor:
        if route.numel() == 1 or bool((route == route[0]).all()):
            r = int(route[0])
            return (F.silu(x @ self.gate[r]) * (x @ self.up[r])) @ self.down[r]
        h = F.silu(torch.bmm(x, self.gate[route])) * torch.bmm(x, self.up[route])  # (B, T, I)
        return torch.bmm(h, self.down[route])

    def load_shared(self, gate_w: torch.Tensor, up_w: torch.Tensor, down_w: torch.Tensor) -> None:
        """Initialise every route from one nn.Linear-layout FFN (out, in) (pretrained import)."""
        with torch.no_grad():
            self.gate.copy_(gate_w.t().unsqueeze(0).expand_as(self.gate))
            self.up.copy_(up_w.t().unsqueeze(0).expand_as(self.up))
            self.down.copy_(down_w.t().unsqueeze(0).expand_as(self.down))

    def macs_per_token(self) -> int:
        _, d, i = self.gate.shape
        return 3 * d * i
