"""Fused Mamba-style log decay on the Triton backend: one launch forward, one backward (plus one sum of the
per-program partials of the two parameter gradients), where the eager form runs about 7 kernels forward and 15
backward.

    forward   z = a + dt_bias[c],  g = -exp(A_log[h]) softplus(z)                (c: column, h = c // (C / H))
    backward  dz = dg (-exp(A_log[h])) sigmoid(z);  da = dz;  d dt_bias[c] = sum_rows dz;
              d A_log[h] = sum_{rows, c of h} dg g

softplus(z) = max(z, 0) + log1p(exp(-|z|)), with log1p(e) = e (1 - e / 2) for e < 1e-4 (relative error < 4e-9).
Only a is kept for the backward (z and the rest recomputed). Float32 arithmetic; g float32, da in a's dtype.
`kernels/mamba_decay/naive.py` is the definition and the tests' float64 reference.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.triton_support import cdiv

BR, BC = 32, 128
"""Rows x columns per program."""


@triton.jit
def _softplus(z):
    e = tl.exp(-tl.abs(z))
    return tl.maximum(z, 0.0) + tl.where(e < 1e-4, e * (1.0 - 0.5 * e), tl.log(1.0 + e))


@triton.jit
def _sigmoid(z):
    e = tl.exp(-tl.abs(z))  # never overflows
    return tl.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@triton.jit
def _load(A, A_LOG, DT, rows, cols, R, C, SA, PER_HEAD):
    """(z, -exp(A_log[h]), mask) of the (BR, BC) tile, float32."""
    rm, cm = rows < R, cols < C
    m = rm[:, None] & cm[None, :]
    a = tl.load(A + rows[:, None] * SA + cols[None, :], mask=m, other=0.0).to(tl.float32)
    dt = tl.load(DT + cols, mask=cm, other=0.0).to(tl.float32)
    minus_A = -tl.exp(tl.load(A_LOG + cols // PER_HEAD, mask=cm, other=0.0).to(tl.float32))
    return a + dt[None, :], minus_A, m


@triton.jit
def _decay_fwd(A, A_LOG, DT, G, R, C, SA, PER_HEAD, BR: tl.constexpr, BC: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)
    cols = tl.program_id(1) * BC + tl.arange(0, BC)
    z, minus_A, m = _load(A, A_LOG, DT, rows, cols, R, C, SA, PER_HEAD)
    tl.store(G + rows[:, None] * C + cols[None, :], minus_A[None, :] * _softplus(z), mask=m)


@triton.jit
def _decay_bwd(A, A_LOG, DT, DG, DA, PART, R, C, SA, SDG, PER_HEAD, BR: tl.constexpr, BC: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)
    cols = tl.program_id(1) * BC + tl.arange(0, BC)
    z, minus_A, m = _load(A, A_LOG, DT, rows, cols, R, C, SA, PER_HEAD)
    dg = tl.load(DG + rows[:, None] * SDG + cols[None, :], mask=m, other=0.0).to(tl.float32)
    dz = dg * minus_A[None, :] * _sigmoid(z)
    tl.store(DA + rows[:, None] * C + cols[None, :], dz.to(DA.dtype.element_ty), mask=m)
    cm = cols < C
    part = PART + tl.program_id(0).to(tl.int64) * 2 * C
    tl.store(part + cols, tl.sum(tl.where(m, dz, 0.0), 0), mask=cm)  # d dt_bias
    tl.store(part + C + cols, tl.sum(tl.where(m, dg * minus_A[None, :] * _softplus(z), 0.0), 0), mask=cm)  # d A_log


def _rows(t: torch.Tensor, C: int) -> torch.Tensor:
    """t (..., trailing dims of C elements) as a (R, C) view with unit column stride (a copy only if needed)."""
    flat = t.reshape(-1, C)
    return flat if flat.stride(-1) == 1 else flat.contiguous()


class MambaDecayTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, A_log: torch.Tensor, dt_bias: torch.Tensor) -> torch.Tensor:
        C = dt_bias.numel()
        a2 = _rows(a, C)
        R = a2.shape[0]
        g = torch.empty(a.shape, dtype=torch.float32, device=a.device)
        if a.numel():
            _decay_fwd[(cdiv(R, BR), cdiv(C, BC))](a2, A_log, dt_bias, g, R, C, a2.stride(0), C // A_log.numel(),
                                                   BR=BR, BC=BC, num_warps=4)
        ctx.save_for_backward(a, A_log, dt_bias)
        return g

    @staticmethod
    def backward(ctx, dg: torch.Tensor):
        a, A_log, dt_bias = ctx.saved_tensors
        C = dt_bias.numel()
        a2, dg2 = _rows(a, C), _rows(dg, C)
        R = a2.shape[0]
        da = torch.empty(a.shape, dtype=a.dtype, device=a.device)
        part = torch.zeros(cdiv(R, BR), 2, C, dtype=torch.float32, device=a.device)
        if a.numel():
            _decay_bwd[(cdiv(R, BR), cdiv(C, BC))](a2, A_log, dt_bias, dg2, da, part, R, C, a2.stride(0),
                                                   dg2.stride(0), C // A_log.numel(), BR=BR, BC=BC, num_warps=4)
        sums = part.sum(0)  # (2, C): d dt_bias, d A_log per column
        d_dt = sums[0].view(dt_bias.shape).to(dt_bias.dtype)
        d_A = sums[1].view(A_log.numel(), -1).sum(1).view(A_log.shape).to(A_log.dtype)
        return da, d_A, d_dt


def mamba_decay_triton(a: torch.Tensor, A_log: torch.Tensor, dt_bias: torch.Tensor) -> torch.Tensor:
    """Differentiable g = -exp(A_log) softplus(a + dt_bias), float32: a (..., H) or (..., H, K) in any float dtype,
    A_log (H,) or (H, 1) and dt_bias (H,) or (H, K) contiguous, float32."""
    C = dt_bias.numel()
    if a.shape[-dt_bias.dim():] != dt_bias.shape or C % A_log.numel() or A_log.shape[0] != dt_bias.shape[0]:
        raise ValueError(f"mamba_decay_triton: a {tuple(a.shape)}, A_log {tuple(A_log.shape)} and dt_bias "
                         f"{tuple(dt_bias.shape)}; valid: a (..., H[, K]), A_log (H[, 1]), dt_bias (H[, K])")
    return MambaDecayTriton.apply(a, A_log.contiguous(), dt_bias.contiguous())
