"""RMSNorm and its gated variant (the output norm of GDN / KDA / lightning attention).

Both compute in float32 (float64 for float64 inputs) and return the input's dtype. Their autograd Functions keep
only the input (and the gate), the weight and the per-row 1/rms for the backward, and recompute the rest there:
autograd through the plain form (`rms_norm_reference`, `gated_rms_norm_reference`, kept as the tests' reference)
would keep two or three float32 copies of every normed activation, 4-5x the bf16 input, at every pre-norm and every
mixer's output norm. With `fused = True` (model.fused_norm) and the Triton kernel backend, both run as one fused
kernel each way (kernels/rms_norm/triton.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from kernels import resolve_backend
from kernels.rms_norm import ACTS, gated_rms_norm_reference, rms_norm_reference

__all__ = ["ACTS", "GatedRMSNorm", "RMSNorm", "gated_rms_norm_reference", "rms_norm_reference"]


def _up(t: torch.Tensor) -> torch.Tensor:
    """The compute dtype: float32, or float64 for float64 tensors (the tests' reference precision)."""
    return t if t.dtype == torch.float64 else t.float()


def _act(gate: torch.Tensor, act: str) -> torch.Tensor:
    return F.silu(_up(gate)) if act == "silu" else torch.sigmoid(_up(gate))


def _fused(x: torch.Tensor) -> bool:
    """The fused Triton kernels run where the kernel backend is Triton (CUDA, or the interpreter in tests)."""
    return x.dtype != torch.float64 and resolve_backend(x.device) == "triton"


def _rstd(xf: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)  # (..., 1)


def _norm_backward(dn: torch.Tensor, xf: torch.Tensor, rstd: torch.Tensor, weight: torch.Tensor):
    """d(x * rstd * w) for dn = d output in the compute dtype: (dx, dw) in it."""
    n = xf * rstd  # (..., D) the normalised input
    g = dn * weight.float()
    dx = rstd * (g - n * (g * n).mean(-1, keepdim=True))
    dw = (dn * n).reshape(-1, n.shape[-1]).sum(0)
    return dx, dw


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        xf = _up(x)
        rstd = _rstd(xf, eps)
        ctx.save_for_backward(x, weight, rstd)
        return (xf * rstd * weight.float()).to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        dx, dw = _norm_backward(_up(dy), _up(x), rstd, weight)
        return dx.to(x.dtype), dw.to(weight.dtype), None


class _GatedRMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, gate: torch.Tensor, weight: torch.Tensor, eps: float, act: str) -> torch.Tensor:
        xf = _up(x)
        rstd = _rstd(xf, eps)
        normed = (xf * rstd * weight.float()).to(x.dtype)  # rounded as the plain form rounds it
        ctx.save_for_backward(x, gate, weight, rstd)
        ctx.act = act
        return (_up(normed) * _act(gate, ctx.act)).to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: torch.Tensor):
        x, gate, weight, rstd = ctx.saved_tensors
        xf, gf, dyf = _up(x), _up(gate), _up(dy)
        normed = _up((xf * rstd * weight.float()).to(x.dtype))
        s = torch.sigmoid(gf)
        a = gf * s if ctx.act == "silu" else s
        d_act = s * (1 + gf * (1 - s)) if ctx.act == "silu" else s * (1 - s)
        dgate = (dyf * normed * d_act).to(gate.dtype)
        dn = _up((dyf * a).to(x.dtype))  # the gradient meets the same rounding as in the plain form
        dx, dw = _norm_backward(dn, xf, rstd, weight)
        return dx.to(x.dtype), dgate, dw.to(weight.dtype), None, None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.fused = False  # HybridLM sets it from model.fused_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and _fused(x):
            from kernels.rms_norm.triton import rms_norm_triton

            return rms_norm_triton(x, self.weight, self.eps)
        return _RMSNorm.apply(x, self.weight, self.eps)


class GatedRMSNorm(RMSNorm):
    """RMSNorm(x) * act(gate), per head: x and gate are (..., head_dim). `act` is 'silu' (GDN) or 'sigmoid' (KDA)."""

    def __init__(self, dim: int, eps: float = 1e-6, act: str = "silu"):
        super().__init__(dim, eps)
        if act not in ACTS:
            raise ValueError(f"GatedRMSNorm act={act!r}; valid: {', '.join(ACTS)}")
        self.act = act

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.fused and _fused(x):
            from kernels.rms_norm.triton import gated_rms_norm_triton

            return gated_rms_norm_triton(x, gate, self.weight, self.eps, self.act)
        return _GatedRMSNorm.apply(x, gate, self.weight, self.eps, self.act)
