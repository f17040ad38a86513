"""Chunk-aligned padding of several packed tensors in one launch each way, for the Triton chunk paths.

`ChunkAlignedLayout.pad` (the definition) moves each tensor with two kernels forward (zeros, index_copy) and two
backward (select_backward of x[0], index_select): ten of each for a delta-rule layer's q, k, v, g and beta. Here one
launch copies every token row of up to five tensors to its chunk-aligned slot and writes the padding rows' zeros,
and one launch gathers the five gradients back:

    forward   y_i[r] = x_i[src[r]]  (0 where src[r] = -1: padding),  r < T'
    backward  dx_i[t] = dy_i[slot[t]],  t < T

Each tensor keeps its dtype and row width (its trailing dims, flattened); rows are read with their stride.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.triton_support import cdiv

BR = 16
"""Rows per program."""
MAX_TENSORS = 5


@triton.jit
def _move(X, Y, src, rows, rm, D, SX, BD: tl.constexpr):
    """Y[rows] = X[src] (zeros where src < 0), row width D, X's row stride SX, Y contiguous."""
    ok = rm & (src >= 0)
    for d0 in range(0, D, BD):
        cols = d0 + tl.arange(0, BD)
        cm = cols < D
        x = tl.load(X + tl.where(ok, src, 0)[:, None] * SX + cols[None, :], mask=ok[:, None] & cm[None, :], other=0.0)
        tl.store(Y + rows[:, None] * D + cols[None, :], x, mask=rm[:, None] & cm[None, :])


@triton.jit
def _move_rows(MAP, N_ROWS, X0, Y0, D0, S0, X1, Y1, D1, S1, X2, Y2, D2, S2, X3, Y3, D3, S3, X4, Y4, D4, S4,
               N: tl.constexpr, BR: tl.constexpr, BD: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)
    rm = rows < N_ROWS
    src = tl.load(MAP + rows, mask=rm, other=-1).to(tl.int64)
    _move(X0, Y0, src, rows, rm, D0, S0, BD)
    if N > 1:
        _move(X1, Y1, src, rows, rm, D1, S1, BD)
    if N > 2:
        _move(X2, Y2, src, rows, rm, D2, S2, BD)
    if N > 3:
        _move(X3, Y3, src, rows, rm, D3, S3, BD)
    if N > 4:
        _move(X4, Y4, src, rows, rm, D4, S4, BD)


def _rows_of(x: torch.Tensor) -> torch.Tensor:
    """(1, T, ...) -> a (T, D) view with unit column stride (a copy only where the trailing dims are not dense)."""
    flat = x[0].reshape(x.shape[1], -1)
    return flat if flat.stride(-1) == 1 else flat.contiguous()


def move_rows(index: torch.Tensor, xs: list[torch.Tensor], n_out: int) -> list[torch.Tensor]:
    """For each (T_in, D_i) x_i: a new contiguous (n_out, D_i) y_i with y_i[r] = x_i[index[r]], 0 where index[r] < 0;
    one launch for up to MAX_TENSORS tensors."""
    outs = [torch.empty(n_out, x.shape[1], dtype=x.dtype, device=x.device) for x in xs]
    if n_out == 0:
        return outs
    args = []
    for x, y in zip(xs, outs):
        args += [x, y, x.shape[1], x.stride(0)]
    pad = [xs[0], outs[0], 0, 0] * (MAX_TENSORS - len(xs))  # unused slots (N says how many are real)
    BD = min(triton.next_power_of_2(max(x.shape[1] for x in xs)), 128)
    _move_rows[(cdiv(n_out, BR),)](index, n_out, *args, *pad, N=len(xs), BR=BR, BD=BD, num_warps=4)
    return outs


class PadRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src: torch.Tensor, slot: torch.Tensor, *xs: torch.Tensor):
        ctx.save_for_backward(slot)
        ctx.shapes = [x.shape for x in xs]
        flat = [_rows_of(x) for x in xs]
        ys = move_rows(src, flat, src.shape[0])
        return tuple(y.view(1, src.shape[0], *x.shape[2:]) for x, y in zip(xs, ys))

    @staticmethod
    def backward(ctx, *dys: torch.Tensor):
        (slot,) = ctx.saved_tensors
        grads = move_rows(slot, [_rows_of(dy) for dy in dys], slot.shape[0])
        return (None, None, *(g.view(shape) for g, shape in zip(grads, ctx.shapes)))


def pad_rows(src: torch.Tensor, slot: torch.Tensor, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(1, T, ...) tensors -> their (1, T', ...) chunk-aligned rows, differentiable, in one launch each way.
    src (T',): the packed row each padded slot reads, -1 for padding; slot (T,): each token's padded slot."""
    if not 1 <= len(xs) <= MAX_TENSORS:
        raise ValueError(f"pad_rows: {len(xs)} tensors; valid: 1..{MAX_TENSORS} per call")
    T = slot.shape[0]
    for x in xs:
        if x.dim() < 2 or x.shape[:2] != (1, T):
            raise ValueError(f"pad_rows: a tensor of shape {tuple(x.shape)}; valid: (1, {T}, ...) packed rows")
    return PadRows.apply(src, slot, *xs)
