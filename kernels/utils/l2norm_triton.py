"""Fused L2 norm (and scale) of q / k rows on the Triton backend: `use_qk_l2norm_in_kernel`, q and k in one launch
each way (`l2norm_pair_triton`).

    forward   y = scale * x * r,                        r = (sum_d x_d^2 + eps)^-1/2 per row (last dim), eps = 1e-6
    backward  dx = scale * r * (dy - r^2 (dy . x) x)

`kernels/utils/l2norm.py: l2norm` is the same function in eager PyTorch (the PyTorch paths' form and the tests' float64
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

from kernels.utils.triton_support import cdiv

from kernels.utils.l2norm import EPS


@triton.jit
def _row_offsets(rows, D1, D2, s0, s1, s2):
    """Memory offsets of rows (flat indices into the leading (D0, D1, D2) dims) from the leading strides."""
    i2 = rows % D2
    i1 = (rows // D2) % D1
    i0 = rows // (D1 * D2)
    return i0 * s0 + i1 * s1 + i2 * s2


@triton.jit
def _fwd_rows(X, Y, R, D, D1, D2, s0, s1, s2, s3, scale, eps, BR: tl.constexpr, BD: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)  # (BR,)
    cols = tl.arange(0, BD)
    m = (rows < R)[:, None] & (cols < D)[None, :]
    x_off = _row_offsets(rows, D1, D2, s0, s1, s2)[:, None] + cols[None, :] * s3
    x = tl.load(X + x_off, mask=m, other=0.0).to(tl.float32)  # (BR, BD)
    r = 1.0 / tl.sqrt_rn(tl.sum(x * x, 1) + eps)  # (BR,) correctly rounded, not the approximate rsqrt
    tl.store(Y + rows[:, None] * D + cols[None, :], x * (scale * r)[:, None], mask=m)


@triton.jit
def _bwd_rows(X, DY, DX, R, D, D1, D2, s0, s1, s2, s3, scale, eps, BR: tl.constexpr, BD: tl.constexpr):
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


@triton.jit
def _l2norm_fwd(X, Y, X2, Y2, R, D, D1, D2, s0, s1, s2, s3, t0, t1, t2, t3, scale, scale2, eps,
                BR: tl.constexpr, BD: tl.constexpr):
    """program_id(1) picks the tensor: 0 x (strides s), 1 x2 (strides t), of the same shape: q and k in one launch."""
    if tl.program_id(1) == 0:
        _fwd_rows(X, Y, R, D, D1, D2, s0, s1, s2, s3, scale, eps, BR, BD)
    else:
        _fwd_rows(X2, Y2, R, D, D1, D2, t0, t1, t2, t3, scale2, eps, BR, BD)


@triton.jit
def _l2norm_bwd(X, DY, DX, X2, DY2, DX2, R, D, D1, D2, s0, s1, s2, s3, t0, t1, t2, t3, scale, scale2, eps,
                BR: tl.constexpr, BD: tl.constexpr):
    if tl.program_id(1) == 0:
        _bwd_rows(X, DY, DX, R, D, D1, D2, s0, s1, s2, s3, scale, eps, BR, BD)
    else:
        _bwd_rows(X2, DY2, DX2, R, D, D1, D2, t0, t1, t2, t3, scale2, eps, BR, BD)


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
    """xs: one tensor (..., D), or two of the same shape (q and k: one launch each way), any float dtypes and strides
    -> each scale_i * x_i / sqrt(sum x_i^2 + eps) over D, contiguous in out_dtype."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, x2: torch.Tensor | None, scale: float, scale2: float, eps: float,
                out_dtype: torch.dtype):
        pair = x2 is not None
        x4, strides, R, BR, BD = _launch_shape(x)
        x4b, strides2 = _launch_shape(x2)[:2] if pair else (x4, strides)
        y = torch.empty(x.shape, dtype=out_dtype, device=x.device)
        y2 = torch.empty(x.shape, dtype=out_dtype, device=x.device) if pair else y
        if R:
            _l2norm_fwd[(cdiv(R, BR), 1 + pair)](x4, y, x4b, y2, R, x4.shape[-1], x4.shape[1], x4.shape[2], *strides,
                                                 *strides2, scale, scale2, eps, BR=BR, BD=BD, num_warps=4)
        ctx.save_for_backward(x, x2)
        ctx.scale, ctx.scale2, ctx.eps = scale, scale2, eps
        return (y, y2) if pair else y

    @staticmethod
    def backward(ctx, dy: torch.Tensor, dy2: torch.Tensor | None = None) -> tuple[torch.Tensor | None, ...]:
        x, x2 = ctx.saved_tensors
        pair = x2 is not None
        x4, strides, R, BR, BD = _launch_shape(x)
        x4b, strides2 = _launch_shape(x2)[:2] if pair else (x4, strides)
        dy = dy.contiguous()  # the chunk kernels' backward hands it over contiguous: a no-op there
        dy2 = dy2.contiguous() if pair else dy
        dx = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        dx2 = torch.empty(x2.shape, dtype=x2.dtype, device=x.device) if pair else dx
        if R:
            _l2norm_bwd[(cdiv(R, BR), 1 + pair)](x4, dy, dx, x4b, dy2, dx2, R, x4.shape[-1], x4.shape[1],
                                                 x4.shape[2], *strides, *strides2, ctx.scale, ctx.scale2, ctx.eps,
                                                 BR=BR, BD=BD, num_warps=4)
        return dx, (dx2 if pair else None), None, None, None, None


def l2norm_triton(x: torch.Tensor, scale: float = 1.0, eps: float = EPS,
                  out_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Differentiable `scale * l2norm(x)` over the last dim (see the module docstring for the dtypes)."""
    return L2Norm.apply(x, None, float(scale), 1.0, float(eps), out_dtype)


def l2norm_pair_triton(q: torch.Tensor, k: torch.Tensor, q_scale: float = 1.0, eps: float = EPS,
                       out_dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """(l2norm_triton(q, q_scale), l2norm_triton(k)) for q and k of one shape and dtype (any strides), in one launch
    forward and one backward instead of two each: a launch's host cost is about what these kernels take on the GPU
    (record: benchmarks/results/*_kernel-launch-choices_h200.md, "L2 norm pair")."""
    if q.shape != k.shape or q.dtype != k.dtype or q.device != k.device:
        raise ValueError(f"l2norm_pair_triton: q and k must share shape, dtype and device; got {tuple(q.shape)} "
                         f"{q.dtype} {q.device} and {tuple(k.shape)} {k.dtype} {k.device}")
    return L2Norm.apply(q, k, float(q_scale), 1.0, float(eps), out_dtype)
