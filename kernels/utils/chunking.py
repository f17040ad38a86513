"""Time axis <-> chunks for the chunked paths: (B, T, H, D) <-> (B, H, N, C, D), zero-padding the tail chunk.

Zero tokens are inert in every op here (k = 0 writes nothing, g = 0 decays nothing), so padding T up to a multiple
of C changes neither the outputs of real tokens nor the final state.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def effective_chunk_size(chunk_size: int, T: int) -> int:
    """Shrink the chunk to the smallest power of two covering T: same result, less padding for short inputs."""
    return min(chunk_size, 1 << (T - 1).bit_length())


def to_chunks(x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """(B, T, H, D) -> (B, H, N, C, D), zero-padding T up to N * C (zero tokens leave the state untouched)."""
    B, T, H, D = x.shape
    n = math.ceil(T / chunk_size)
    x = F.pad(x, (0, 0, 0, 0, 0, n * chunk_size - T))
    return x.reshape(B, n, chunk_size, H, D).permute(0, 3, 1, 2, 4)


class _ToChunksContiguous(torch.autograd.Function):
    """One copy each way: forward writes the chunks; backward hands back a view of the gradient, cast to x's dtype
    (autograd's CopySlices, for a plain `copy_`, would clone the whole gradient first)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, chunk_size: int, dtype: torch.dtype) -> torch.Tensor:
        B, T, H, D = x.shape
        n = math.ceil(T / chunk_size)
        make = x.new_zeros if n * chunk_size != T else x.new_empty  # only a padded tail needs the zeros
        out = make(B, H, n, chunk_size, D, dtype=dtype)
        from_chunks(out, T).copy_(x)  # from_chunks of a contiguous tensor is a view
        ctx.T, ctx.dtype = T, x.dtype
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return from_chunks(dout.contiguous(), ctx.T).to(ctx.dtype), None, None


def to_chunks_contiguous(x: torch.Tensor, chunk_size: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """to_chunks(x), materialised contiguous in `dtype` (default: x's) by one copy: the dtype conversion, the layout
    change and the padding in a single write, where `to_chunks(x.to(dtype)).contiguous()` takes three passes."""
    return _ToChunksContiguous.apply(x, chunk_size, dtype or x.dtype)


def from_chunks(x: torch.Tensor, T: int) -> torch.Tensor:
    """(B, H, N, C, D) -> (B, T, H, D), dropping the padding (a view when x is contiguous)."""
    B, H, n, C, D = x.shape
    return x.permute(0, 2, 3, 1, 4).reshape(B, n * C, H, D)[:, :T]


TRITON_MAX_CHUNK = 64
TRITON_MIN_CHUNK = 16  # tl.dot needs 16-wide tiles (`triton_support.MIN_BLOCK`)


def triton_chunk_size(chunk_size: int, T: int) -> int:
    """The chunk the Triton paths use: a power of two in [16, 64] (the state tiles must fit in registers), no longer
    than T needs; results do not depend on it beyond rounding."""
    return max(TRITON_MIN_CHUNK, min(TRITON_MAX_CHUNK, effective_chunk_size(chunk_size, T)))
