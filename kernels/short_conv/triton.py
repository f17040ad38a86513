"""Fused causal short convolution + SiLU on the Triton backend: one launch forward, one backward (plus a sum of the
weight gradient's per-program partials), where the eager packed form runs about 4 kernels per tap each way.

    forward   z_t = sum_s w[W-1-s] x_{t-s} [pos_t >= s],  y_t = z_t sigmoid(z_t)
    backward  dz_u = dy_u silu'(z_u) (z recomputed from x),  dx_t = sum_s w[W-1-s] dz_{t+s} [pos_{t+s} >= s],
              dw[W-1-s] = sum_{b,t} dz_t x_{t-s} [pos_t >= s]

Only x, w and the positions are kept for the backward. Float32 arithmetic; y and dx in x's dtype, dw in w's.
`kernels/short_conv/naive.py` is the definition and the tests' float64 reference.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.triton_support import cdiv

BT, BD = 32, 128
"""Tokens x channels per program."""


@triton.jit
def _positions(POS, t, tm, HAS_POS: tl.constexpr):
    """Each time's offset inside its document: read from POS, or t itself for whole rows."""
    if HAS_POS:
        return tl.load(POS + t, mask=tm, other=0)
    else:
        return t


@triton.jit
def _pre_activation(X, W, POS, b, t, cols, T, D, SX, HAS_POS: tl.constexpr, WIDTH: tl.constexpr, BT: tl.constexpr,
                    BD: tl.constexpr):
    """z at times t (BT,) of row b, channels cols (BD,), float32; 0 where t is outside [0, T)."""
    cm = cols < D
    tm = (t >= 0) & (t < T)
    pos = _positions(POS, t, tm, HAS_POS)
    z = tl.zeros((BT, BD), dtype=tl.float32)
    for s in tl.static_range(WIDTH):
        ok = tm & (pos >= s)
        xv = tl.load(X + (b * T + t - s)[:, None] * SX + cols[None, :], mask=ok[:, None] & cm[None, :], other=0.0)
        wv = tl.load(W + cols * WIDTH + (WIDTH - 1 - s), mask=cm, other=0.0)
        z += xv.to(tl.float32) * wv.to(tl.float32)[None, :]
    return z


@triton.jit
def _short_conv_fwd(X, W, POS, Y, T, D, SX, HAS_POS: tl.constexpr, WIDTH: tl.constexpr, BT: tl.constexpr,
                    BD: tl.constexpr):
    b = tl.program_id(2).to(tl.int64)
    t = tl.program_id(0) * BT + tl.arange(0, BT)
    cols = tl.program_id(1) * BD + tl.arange(0, BD)
    z = _pre_activation(X, W, POS, b, t, cols, T, D, SX, HAS_POS, WIDTH, BT, BD)
    y = z / (1.0 + tl.exp(-z))
    m = (t < T)[:, None] & (cols < D)[None, :]
    tl.store(Y + (b * T + t)[:, None] * D + cols[None, :], y.to(Y.dtype.element_ty), mask=m)


@triton.jit
def _short_conv_bwd(X, W, POS, DY, DX, DW_PART, T, D, SX, HAS_POS: tl.constexpr, WIDTH: tl.constexpr,
                    BT: tl.constexpr, BD: tl.constexpr):
    b = tl.program_id(2).to(tl.int64)
    t = tl.program_id(0) * BT + tl.arange(0, BT)
    cols = tl.program_id(1) * BD + tl.arange(0, BD)
    cm = cols < D
    tm = t < T
    dx = tl.zeros((BT, BD), dtype=tl.float32)
    dz_t = tl.zeros((BT, BD), dtype=tl.float32)
    for s in tl.static_range(WIDTH):  # dz at t + s reaches x_t through tap s
        u = t + s
        um = u < T
        z = _pre_activation(X, W, POS, b, u, cols, T, D, SX, HAS_POS, WIDTH, BT, BD)
        dy = tl.load(DY + (b * T + u)[:, None] * D + cols[None, :], mask=um[:, None] & cm[None, :], other=0.0)
        sig = 1.0 / (1.0 + tl.exp(-z))
        dz = dy.to(tl.float32) * sig * (1.0 + z * (1.0 - sig))
        pos_u = _positions(POS, u, um, HAS_POS)
        wv = tl.load(W + cols * WIDTH + (WIDTH - 1 - s), mask=cm, other=0.0).to(tl.float32)
        dx += tl.where((um & (pos_u >= s))[:, None], dz, 0.0) * wv[None, :]
        if s == 0:
            dz_t = dz
    m = tm[:, None] & cm[None, :]
    tl.store(DX + (b * T + t)[:, None] * D + cols[None, :], dx.to(DX.dtype.element_ty), mask=m)
    pos = _positions(POS, t, tm, HAS_POS)
    part = DW_PART + ((b * tl.num_programs(0) + tl.program_id(0)) * WIDTH) * D
    for s in tl.static_range(WIDTH):
        ok = tm & (pos >= s)
        xv = tl.load(X + (b * T + t - s)[:, None] * SX + cols[None, :], mask=ok[:, None] & cm[None, :], other=0.0)
        tl.store(part + (WIDTH - 1 - s) * D + cols, tl.sum(dz_t * xv.to(tl.float32), 0), mask=cm)


class ShortConvTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, positions: torch.Tensor | None):
        B, T, D = x.shape
        if x.stride(2) != 1 or (B > 1 and x.stride(0) != T * x.stride(1)):
            x = x.contiguous()  # a slice of a joint projection's output is read in place, with its row stride
        w = weight.reshape(D, -1).contiguous()
        y = torch.empty(B, T, D, dtype=x.dtype, device=x.device)
        if x.numel():
            _short_conv_fwd[(cdiv(T, BT), cdiv(D, BD), B)](x, w, positions if positions is not None else x, y, T, D,
                                                          x.stride(1), HAS_POS=positions is not None,
                                                          WIDTH=w.shape[1], BT=BT, BD=BD, num_warps=4)
        ctx.save_for_backward(x, w, positions)
        ctx.weight_shape = weight.shape
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x, w, positions = ctx.saved_tensors
        B, T, D = x.shape
        W = w.shape[1]
        dx = torch.empty(B, T, D, dtype=x.dtype, device=x.device)
        part = torch.zeros(B * cdiv(T, BT), W, D, dtype=torch.float32, device=x.device)
        if x.numel():
            _short_conv_bwd[(cdiv(T, BT), cdiv(D, BD), B)](x, w, positions if positions is not None else x,
                                                          dy.contiguous(), dx, part, T, D, x.stride(1),
                                                          HAS_POS=positions is not None, WIDTH=W, BT=BT, BD=BD,
                                                          num_warps=4)
        dw = part.sum(0).t().to(w.dtype).reshape(ctx.weight_shape)
        return dx, dw, None


def short_conv_triton(x: torch.Tensor, weight: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
    """Differentiable SiLU(causal depthwise conv): x (B, T, D) any float dtype, weight (D, W) or (D, 1, W),
    positions (T,) int32 offsets inside documents (or None: rows are whole sequences)."""
    if x.dim() != 3 or weight.shape[0] != x.shape[-1]:
        raise ValueError(f"short_conv_triton: x {tuple(x.shape)} must be (B, T, D) and weight {tuple(weight.shape)} "
                         f"(D, W) with D = x's last dim")
    if positions is not None and (positions.shape != (x.shape[1],) or positions.dtype != torch.int32):
        raise ValueError(f"short_conv_triton: positions {tuple(positions.shape)} {positions.dtype} must be "
                         f"({x.shape[1]},) int32")
    return ShortConvTriton.apply(x, weight, positions)
