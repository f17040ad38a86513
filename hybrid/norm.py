"""RMSNorm and its gated variant (the output norm of GDN / KDA / lightning attention)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.float()).to(dtype)


class GatedRMSNorm(RMSNorm):
    """RMSNorm(x) * act(gate), per head: x and gate are (..., head_dim). `act` is 'silu' (GDN) or 'sigmoid' (KDA)."""

    def __init__(self, dim: int, eps: float = 1e-6, act: str = "silu"):
        super().__init__(dim, eps)
        if act not in ("silu", "sigmoid"):
            raise ValueError(f"GatedRMSNorm act={act!r}; valid: silu, sigmoid")
        self.act = act

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        g = F.silu(gate.float()) if self.act == "silu" else torch.sigmoid(gate.float())
        return (super().forward(x).float() * g).to(x.dtype)
