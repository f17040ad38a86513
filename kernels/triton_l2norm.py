"""Fused L2 norm (and scale) of q / k rows on the Triton backend: `use_qk_l2norm_in_kernel` in one kernel each way.

    forward   y = scale * x * r,                        r = (sum_d x_d^2 + eps)^-1/2 per row (last dim), eps = 1e-6
    backward  dx = scale * r * (dy - r^2 (dy . x) x)

`kernels/l2norm.py: l2norm` is the same function in eager PyTorch (the PyTorch paths' form and the tests' float64
reference). The eager form runs five elementwise / reduction kernels forward and about ten in autograd's backward;
here one program normalises a block of rows in registers, and the backward recomputes r from x instead of saving it.

Dtypes: x is read in place in any float dtype and with any strides, and all arithmetic is float32. y is float32 by
default: it feeds the chunk kernels, which compute in float32 anyway, and a bf16 y would round the normalised q and
k once more (relative 2^-9, as large as the rounding of the bf16 inputs themselves) on top of the input rounding,
for a read of half the bytes. (The delta-rule path asks for float16 when no backward follows and its products are
tf32: there the extra rounding is below what those products keep.) dx is written straight in x's dtype (no float32
copy cast back afterwards).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.triton_support import cdiv

from kernels.l2norm import EPS


@triton.jit
def _row_offsets(rows, D1, D2, s0, s1, s2):
    """Memory offsets of rows (flat indices into the leading (D0, D1, D2) dims) from the leading strides."""
    i2 = rows % D2
    i1 = (rows // D2) % D1
    i0 = rows // (D1 * D2)
    return i0 * s0 + i1 * s1 + i2 * s2


@triton.jit
def _l2norm_fwd(X, Y, R, D, D1, D2, s0, s1, s2, s3, scale, eps, BR: tl.constexpr, BD: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)  # (BR,)
    cols = tl.arange(0, BD)
    m = (rows < R)[:, None] & (cols < D)[None, :]
    x_off = _row_offsets(rows, D1, D2, s0, s1, s2)[:, None] + cols[None, :] * s3
    x = tl.load(X + x_off, mask=m, other=0.0).to(tl.float32)  # (BR, BD)
    r = 1.0 / tl.sqrt_rn(tl.sum(x * x, 1) + eps)  # (BR,) correctly rounded, not the approximate rsqrt
    tl.store(Y + rows[:, None] * D + cols[None, :], x * (scale * r)[:, None], mask=m)


@triton.jit
def _l2norm_bwd(X, DY, DX, R, D, D1, D2, s0, s1, s2, s3, scale, eps, BR: tl.constexpr, BD: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)
    cols = tl.arange(0, BD)
    m = (rows < R)[:, None] & (cols < D)[None, :]
    x_off = _row_offsets(rows, D1, D2, s0, s1, s2)[:, None] + cols[None, :] * s3
    x = tl.load(X + x_off, mask=m, other=0.0).to(tl.float32)
    out = rows[:, None] * D + cols[None, :]  # y and dx are contiguous
    dy = tl.load(DY + out, mask=m, other=0.0).to(tl.float32)
    r = 1.0 / tl.sqrt_rn(tl.sum(x * x, 1) + eps)
    proj = tl.sum(dy * x, 1) * r * r  # (BR,) r^2 (dy . x)
    tl.store(DX + out, (scale * r)[:, None] * (dy - proj[:, None] * x), mask=m)


def _launch_shape(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...], int, int, int]:
    """x as a (D0, D1, D2, D) view (leading dims padded with 1s or merged), its strides, rows, BR and BD."""
    while x.dim() < 4:
        x = x.unsqueeze(0)
    if x.dim() > 4:
        x = x.flatten(0, x.dim() - 4)  # a view when the leading dims allow it, else a copy
    D = x.shape[-1]
    BD = 1 << (D - 1).bit_length()  # the next power of two
    BR = max(1, min(16, 4096 // BD))  # ~4K elements per program: 16 rows of a 128 / 256-wide head dim
    return x, x.stride(), x.shape[:-1].numel(), BR, BD


class L2Norm(torch.autograd.Function):
    """x (..., D) any float dtype -> scale * x / sqrt(sum x^2 + eps) over D, contiguous in out_dtype."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float, eps: float, out_dtype: torch.dtype) -> torch.Tensor:
        x4, strides, R, BR, BD = _launch_shape(x)
        y = torch.empty(x.shape, dtype=out_dtype, device=x.device)
        if R:
            _l2norm_fwd[(cdiv(R, BR),)](x4, y, R, x4.shape[-1], x4.shape[1], x4.shape[2], *strides, scale, eps,
                                                BR=BR, BD=BD, num_warps=4)
        ctx.save_for_backward(x)
        ctx.scale, ctx.eps = scale, eps
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        x4, strides, R, BR, BD = _launch_shape(x)
        dy = dy.contiguous()  # the chunk kernels' backward hands it over contiguous: a no-op there
        dx = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        if R:
            _l2norm_bwd[(cdiv(R, BR),)](x4, dy, dx, R, x4.shape[-1], x4.shape[1], x4.shape[2], *strides,
                                                ctx.scale, ctx.eps, BR=BR, BD=BD, num_warps=4)
        return dx, None, None, None


def l2norm_triton(x: torch.Tensor, scale: float = 1.0, eps: float = EPS,
                  out_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Differentiable `scale * l2norm(x)` over the last dim (see the module docstring for the dtypes)."""
    return L2Norm.apply(x, float(scale), float(eps), out_dtype)
