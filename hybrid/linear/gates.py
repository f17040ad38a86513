"""The data-dependent gates of the delta-rule mixers: the write strength beta and the Mamba-style log decay.

beta = sigmoid(logits), doubled with allow_neg_eigval so the transition I - beta k k^T may have negative eigenvalues
(Grazzi et al. 2024). The decay is g = -exp(A_log) * softplus(a + dt_bias) (log space, <= 0), initialised as in Mamba2
/ Gated DeltaNet: A = U(1, 16), dt log-uniform in [1e-3, 1e-1] stored through the inverse softplus. Gates are computed
in fp32 (fp64 when the module is double) because the kernels accumulate their exponentials.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def wide(t: torch.Tensor) -> torch.Tensor:
    """t in fp32, or fp64 if it already is."""
    return t if t.dtype == torch.float64 else t.float()


def beta_gate(logits: torch.Tensor, allow_neg_eigval: bool) -> torch.Tensor:
    """(B, T, H) logits -> beta in (0, 1), or (0, 2) with allow_neg_eigval."""
    beta = torch.sigmoid(wide(logits))
    return beta * 2.0 if allow_neg_eigval else beta


def a_log_param(n_heads: int) -> nn.Parameter:
    """A_log = log(A), A ~ U(1, 16) per head; excluded from weight decay."""
    p = nn.Parameter(torch.empty(n_heads).uniform_(1.0, 16.0).log())
    p._no_weight_decay = True
    return p


def dt_bias_param(n: int, dt_min: float = 1e-3, dt_max: float = 1e-1, dt_floor: float = 1e-4) -> nn.Parameter:
    """dt_bias = softplus^-1(dt), dt log-uniform in [dt_min, dt_max]; excluded from weight decay."""
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=dt_floor)
    p = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
    p._no_weight_decay = True
    return p


def mamba_decay(a: torch.Tensor, A_log: torch.Tensor, dt_bias: torch.Tensor) -> torch.Tensor:
    """g = -exp(A_log) * softplus(a + dt_bias); A_log and dt_bias must broadcast against a."""
    return -wide(A_log).exp() * F.softplus(wide(a) + wide(dt_bias))
