"""Fused RMSNorm and gated RMSNorm on the Triton backend: one launch forward, one backward (plus a small sum of the
weight gradient's per-program partials), where the eager autograd form runs about 8 kernels forward and 15 back.

    forward   n = x * r,  r = (mean_d x_d^2 + eps)^-1/2 per row;  y = n * w  (gated: y = round(n * w) * act(g))
    backward  gated: dg = dy * round(n * w) * act'(g), e = dy * act(g);  plain: e = dy
              dx = r * (e w - n * mean_d(e w n)),  dw = sum_rows(e * n)

Only x (and g), w and r (one float32 per row) are kept for the backward; n is recomputed. All arithmetic is
float32; y, dx and dg are written in the inputs' dtypes. Rows are the flattened leading dims of a contiguous x.
`kernels/rms_norm/naive.py` is the definition and the tests' float64 reference.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.triton_support import cdiv

ACT_CODES = {"none": 0, "silu": 1, "sigmoid": 2}
MAX_PROGRAMS = 1024
"""The backward's programs each walk several row blocks, so its dw partials are at most MAX_PROGRAMS x D floats."""


@triton.jit
def _act_fwd(g, ACT: tl.constexpr):
    s = 1.0 / (1.0 + tl.exp(-g))
    if ACT == 1:
        return g * s
    else:
        return s


@triton.jit
def _act_grad(g, ACT: tl.constexpr):
    s = 1.0 / (1.0 + tl.exp(-g))
    if ACT == 1:
        return s * (1.0 + g * (1.0 - s))
    else:
        return s * (1.0 - s)


@triton.jit
def _rms_norm_fwd(X, G, W, Y, RSTD, R, D, eps, ACT: tl.constexpr, BR: tl.constexpr, BD: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)
    cols = tl.arange(0, BD)
    rm = rows < R
    m = rm[:, None] & (cols < D)[None, :]
    off = rows[:, None] * D + cols[None, :]
    x = tl.load(X + off, mask=m, other=0.0).to(tl.float32)
    w = tl.load(W + cols, mask=cols < D, other=0.0).to(tl.float32)
    r = 1.0 / tl.sqrt_rn(tl.sum(x * x, 1) / D + eps)
    y = x * r[:, None] * w[None, :]
    if ACT != 0:
        y = y.to(Y.dtype.element_ty).to(tl.float32)  # the normed value in x's dtype, as a separate gate would see it
        g = tl.load(G + off, mask=m, other=0.0).to(tl.float32)
        y = y * _act_fwd(g, ACT)
    tl.store(Y + off, y.to(Y.dtype.element_ty), mask=m)
    tl.store(RSTD + rows, r, mask=rm)


@triton.jit
def _rms_norm_bwd(X, G, W, RSTD, DY, DX, DG, DW_PART, R, D, ACT: tl.constexpr, BR: tl.constexpr,
                  BD: tl.constexpr):
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    cols = tl.arange(0, BD)
    cm = cols < D
    w = tl.load(W + cols, mask=cm, other=0.0).to(tl.float32)
    dw = tl.zeros((BD,), dtype=tl.float32)
    for blk in range(pid, tl.cdiv(R, BR), nprog):
        rows = blk * BR + tl.arange(0, BR).to(tl.int64)
        rm = rows < R
        m = rm[:, None] & cm[None, :]
        off = rows[:, None] * D + cols[None, :]
        x = tl.load(X + off, mask=m, other=0.0).to(tl.float32)
        e = tl.load(DY + off, mask=m, other=0.0).to(tl.float32)
        r = tl.load(RSTD + rows, mask=rm, other=0.0)
        n = x * r[:, None]
        if ACT != 0:
            g = tl.load(G + off, mask=m, other=0.0).to(tl.float32)
            normed = (n * w[None, :]).to(DX.dtype.element_ty).to(tl.float32)
            tl.store(DG + off, (e * normed * _act_grad(g, ACT)).to(DG.dtype.element_ty), mask=m)
            e = (e * _act_fwd(g, ACT)).to(DX.dtype.element_ty).to(tl.float32)  # rounded as a separate gate's grad
        ew = e * w[None, :]
        dx = r[:, None] * (ew - n * (tl.sum(ew * n, 1) / D)[:, None])
        tl.store(DX + off, dx.to(DX.dtype.element_ty), mask=m)
        dw += tl.sum(e * n, 0)
    tl.store(DW_PART + pid * D + cols, dw, mask=cm)


def _blocks(D: int) -> tuple[int, int]:
    BD = 1 << (D - 1).bit_length()  # the next power of two
    return max(1, min(16, 4096 // BD)), BD  # ~4K elements per block of rows


class RMSNormTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, gate: torch.Tensor | None, weight: torch.Tensor, eps: float, act: str):
        D = x.shape[-1]
        x2 = x.reshape(-1, D).contiguous()
        g2 = gate.reshape(-1, D).contiguous() if gate is not None else x2
        R = x2.shape[0]
        BR, BD = _blocks(D)
        y = torch.empty_like(x2)
        rstd = torch.empty(R, dtype=torch.float32, device=x.device)
        if R:
            _rms_norm_fwd[(cdiv(R, BR),)](x2, g2, weight, y, rstd, R, D, eps, ACT=ACT_CODES[act], BR=BR, BD=BD,
                                          num_warps=4)
        ctx.save_for_backward(x2, g2 if gate is not None else None, weight, rstd)
        ctx.act, ctx.shape = act, x.shape
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x2, g2, weight, rstd = ctx.saved_tensors
        R, D = x2.shape
        BR, BD = _blocks(D)
        dy2 = dy.reshape(-1, D).contiguous()
        dx = torch.empty_like(x2)
        dg = torch.empty_like(g2) if g2 is not None else dx
        nprog = max(1, min(cdiv(R, BR), MAX_PROGRAMS))
        part = torch.empty(nprog, D, dtype=torch.float32, device=x2.device)
        if R:
            _rms_norm_bwd[(nprog,)](x2, g2 if g2 is not None else x2, weight, rstd, dy2, dx, dg, part, R, D,
                                    ACT=ACT_CODES[ctx.act], BR=BR, BD=BD, num_warps=4)
        else:
            part.zero_()
        dw = part.sum(0).to(weight.dtype)
        return (dx.view(ctx.shape), dg.view(ctx.shape) if g2 is not None else None, dw, None, None)


def rms_norm_triton(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Differentiable RMSNorm over the last dim of x (any float dtype), weight (D,)."""
    return RMSNormTriton.apply(x, None, weight, float(eps), "none")


def gated_rms_norm_triton(x: torch.Tensor, gate: torch.Tensor, weight: torch.Tensor, eps: float,
                          act: str) -> torch.Tensor:
    """Differentiable RMSNorm(x) * act(gate), act 'silu' or 'sigmoid'; gate has x's shape."""
    if gate.shape != x.shape:
        raise ValueError(f"gated_rms_norm_triton: gate shape {tuple(gate.shape)} must equal x's {tuple(x.shape)}")
    return RMSNormTriton.apply(x, gate, weight, float(eps), act)
