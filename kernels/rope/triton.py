"""Fused RoPE on the Triton backend: one launch forward, one backward, where the eager form runs about 17 kernels
each way per tensor (angles, casts, four products, two concatenations).

    forward   y_i = x_i cos a_i - x_{i+R/2} sin a_i,  y_{i+R/2} = x_{i+R/2} cos a_i + x_i sin a_i,  y_j = x_j (j >= R)
    backward  the same rotation by -a:  dx_i = dy_i cos a_i + dy_{i+R/2} sin a_i, ...

Angles are recomputed from the positions in both directions, so only the positions are kept. x may be a strided view
(its last dim contiguous); y and dx are contiguous. Float32 arithmetic (float64 for float64 inputs).
`kernels/rope/naive.py` is the definition and the tests' float64 reference.
"""
from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from kernels.rope.naive import inverse_frequencies
from kernels.utils.triton_support import cdiv


@triton.jit
def _rope(X, POS, INV, Y, T, H, D, SXB, SXT, SXH, SPB, R2, SIGN: tl.constexpr, BH: tl.constexpr,
          BR: tl.constexpr, BP: tl.constexpr):
    """One token (program 0: b * T + t), BH heads (program 1): rotate the first 2 R2 dims by SIGN * angle, copy
    the rest. Y is contiguous (B, T, H, D)."""
    bt = tl.program_id(0).to(tl.int64)
    b, t = bt // T, bt % T
    h = tl.program_id(1) * BH + tl.arange(0, BH)
    hm = h < H
    i = tl.arange(0, BR)
    im = i < R2
    inv = tl.load(INV + i, mask=im, other=0.0)
    pos = tl.load(POS + b * SPB + t).to(inv.dtype)
    a = pos * inv
    cos = tl.cos(a)[None, :]
    sin = (SIGN * tl.sin(a))[None, :]
    src = X + b * SXB + t * SXT + h[:, None] * SXH
    dst = Y + bt * H * D + h[:, None] * D
    m = hm[:, None] & im[None, :]
    x1 = tl.load(src + i[None, :], mask=m, other=0.0).to(inv.dtype)
    x2 = tl.load(src + R2 + i[None, :], mask=m, other=0.0).to(inv.dtype)
    tl.store(dst + i[None, :], (x1 * cos - x2 * sin).to(Y.dtype.element_ty), mask=m)
    tl.store(dst + R2 + i[None, :], (x2 * cos + x1 * sin).to(Y.dtype.element_ty), mask=m)
    j = 2 * R2 + tl.arange(0, BP)
    pm = hm[:, None] & (j < D)[None, :]
    tl.store(dst + j[None, :], tl.load(src + j[None, :], mask=pm, other=0.0), mask=pm)


@functools.lru_cache(maxsize=64)
def _inverse_frequencies(rotary_dim: int, theta: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return inverse_frequencies(rotary_dim, theta, dtype, device)


def _launch(x: torch.Tensor, positions: torch.Tensor, rotary_dim: int, theta: float, sign: float) -> torch.Tensor:
    B, T, H, D = x.shape
    if x.stride(3) != 1:
        x = x.contiguous()
    ct = torch.float64 if x.dtype == torch.float64 else torch.float32
    inv = _inverse_frequencies(rotary_dim, float(theta), ct, x.device)
    y = torch.empty(B, T, H, D, dtype=x.dtype, device=x.device)
    if x.numel():
        BH = min(triton.next_power_of_2(H), 16)
        _rope[(B * T, cdiv(H, BH))](x, positions, inv, y, T, H, D, x.stride(0), x.stride(1), x.stride(2),
                                   positions.stride(0) if positions.dim() == 2 else 0, rotary_dim // 2,
                                   SIGN=sign, BH=BH, BR=triton.next_power_of_2(max(rotary_dim // 2, 1)),
                                   BP=triton.next_power_of_2(max(D - rotary_dim, 1)), num_warps=1)
    return y


class RopeTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, positions: torch.Tensor, rotary_dim: int, theta: float) -> torch.Tensor:
        ctx.save_for_backward(positions)
        ctx.rotary_dim, ctx.theta = rotary_dim, theta
        return _launch(x, positions, rotary_dim, theta, 1.0)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        (positions,) = ctx.saved_tensors
        return _launch(dy, positions, ctx.rotary_dim, ctx.theta, -1.0), None, None, None


def rope_triton(x: torch.Tensor, positions: torch.Tensor, rotary_dim: int, theta: float) -> torch.Tensor:
    """Differentiable RoPE: x (B, T, H, D) any float dtype, positions (T,) or (B, T) integers on x's device, an even
    rotary_dim <= D -> (B, T, H, D) contiguous, in x's dtype."""
    B, T = x.shape[:2] if x.dim() == 4 else (None, None)
    if x.dim() != 4 or positions.shape not in ((T,), (B, T)) or positions.is_floating_point():
        raise ValueError(f"rope_triton: x {tuple(x.shape)} must be (B, T, H, D) and positions "
                         f"{tuple(positions.shape)} {positions.dtype} integer ({T},) or ({B}, {T})")
    if rotary_dim % 2 or not 0 < rotary_dim <= x.shape[3]:
        raise ValueError(f"rope_triton: rotary_dim={rotary_dim}; valid: an even number in 2..{x.shape[3]}")
    return RopeTriton.apply(x, positions.contiguous(), rotary_dim, theta)
