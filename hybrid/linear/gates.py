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
from torch.autograd.function import once_differentiable

from kernels import resolve_backend
from kernels.mamba_decay.naive import mamba_decay_reference, wide

__all__ = ["a_log_param", "beta_gate", "dt_bias_param", "mamba_decay", "mamba_decay_reference", "wide"]


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


class _MambaDecay(torch.autograd.Function):
    """Keeps a (the projection's output, in its own dtype) for the backward instead of autograd's two wide copies
    (softplus's input and output), and recomputes the rest there."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, A_log: torch.Tensor, dt_bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, A_log, dt_bias)
        return mamba_decay_reference(a, A_log, dt_bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, dg: torch.Tensor):
        a, A_log, dt_bias = ctx.saved_tensors
        z = wide(a) + wide(dt_bias)
        minus_A = -wide(A_log).exp()
        d_softplus = dg * minus_A
        dz = torch.where(z > 20, d_softplus, d_softplus * torch.sigmoid(z))  # F.softplus is z itself past 20
        dA_log = (dg * minus_A * F.softplus(z)).sum_to_size(A_log.shape)
        return dz.to(a.dtype), dA_log.to(A_log.dtype), dz.sum_to_size(dt_bias.shape).to(dt_bias.dtype)


def mamba_decay(a: torch.Tensor, A_log: torch.Tensor, dt_bias: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """g = -exp(A_log) * softplus(a + dt_bias) in fp32 (fp64 for fp64 inputs); A_log and dt_bias must broadcast
    against a. The backward keeps a, not float32 copies of the (B, T, H[, K]) intermediates. fused
    (model.fused_gates): one Triton kernel each way where the kernel backend is Triton."""
    if fused and a.dtype != torch.float64 and resolve_backend(a.device) == "triton":
        from kernels.mamba_decay.triton import mamba_decay_triton

        return mamba_decay_triton(a, A_log, dt_bias)
    return _MambaDecay.apply(a, A_log, dt_bias)
