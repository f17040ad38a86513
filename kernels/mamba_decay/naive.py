"""The Mamba-style log decay: g = -exp(A_log) * softplus(a + dt_bias), through autograd (the definition).

a is a projection's output (B, T, H) per head (gated_deltanet) or (B, T, H, K) per key channel (kda); A_log is per
head and dt_bias per column, both broadcasting against a. Computed in float32 (float64 for float64 inputs): the
kernels accumulate its exponentials.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def wide(t: torch.Tensor) -> torch.Tensor:
    """t in fp32, or fp64 if it already is."""
    return t if t.dtype == torch.float64 else t.float()


def mamba_decay_reference(a: torch.Tensor, A_log: torch.Tensor, dt_bias: torch.Tensor) -> torch.Tensor:
    """g = -exp(A_log) * softplus(a + dt_bias) through autograd."""
    return -wide(A_log).exp() * F.softplus(wide(a) + wide(dt_bias))
