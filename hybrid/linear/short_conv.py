"""Causal depthwise short convolution over channels, then SiLU: the q/k/v "short conv" of DeltaNet, GDN and KDA.

Each channel mixes its own last `size` inputs (the current one included), which gives the delta rule cheap local
n-gram features. For decoding it keeps the last size-1 inputs in the mixer's LinearCache under its own name; for
packed documents (cu_seqlens) it restarts at each document start, so no token sees the tail of the previous one.
size == 0 drops the convolution but keeps the SiLU, as FLA does without a short conv. With `fused = True`
(model.fused_conv) and the Triton kernel backend, a training forward (no cache) runs the convolution and the SiLU as
one kernel each way (kernels/short_conv/triton.py); the eager form below is the same definition.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hybrid.linear.cache import LinearCache
from kernels import resolve_backend
from hybrid.document_positions import positions_in_documents
from kernels.short_conv import causal_conv


class ShortConv(nn.Module):
    def __init__(self, dim: int, size: int, name: str):
        super().__init__()
        if size < 0:
            raise ValueError(f"model.linear.conv_size={size}; valid: 0 (off) or a kernel width >= 1")
        self.dim, self.size, self.name = dim, size, name
        if size > 0:
            # nn.Conv1d's default init for a depthwise kernel (fan_in = size).
            bound = 1.0 / math.sqrt(size)
            self.weight = nn.Parameter(torch.empty(dim, 1, size).uniform_(-bound, bound))  # (D, 1, W)
        else:
            self.register_parameter("weight", None)
        self.fused = False  # HybridLM sets it from model.fused_conv

    def forward(self, x: torch.Tensor, cache: LinearCache | None = None, cu_seqlens: Any = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, D) -> (B, T, D); reads and refreshes cache.conv[self.name] when a cache is given. positions:
        positions_in_documents(cu_seqlens) when the caller has them (q, k and v share one)."""
        if self.size == 0:
            return F.silu(x)
        if cu_seqlens is not None and positions is None:
            positions = positions_in_documents(cu_seqlens, x.shape[1])
        if self.fused and cache is None and x.dtype != torch.float64 and resolve_backend(x.device) == "triton":
            from kernels.short_conv.triton import short_conv_triton

            return short_conv_triton(x, self.weight, positions)
        B, _, D = x.shape
        keep = self.size - 1
        past = None if cache is None else cache.conv.get(self.name)
        if past is None:
            past = x.new_zeros(B, keep, D)
        xs = torch.cat([past.to(x.dtype), x], dim=1)  # (B, keep + T, D)
        if cu_seqlens is None:
            y = F.conv1d(xs.transpose(1, 2), self.weight.to(x.dtype), groups=D).transpose(1, 2)  # (B, T, D)
        else:  # only the taps that stay inside each token's own document
            y = causal_conv(x, self.weight.to(x.dtype)[:, 0], positions)
        if cache is not None:
            cache.conv[self.name] = xs[:, xs.shape[1] - keep :]
        return F.silu(y)


class QKVShortConv(nn.Module):
    """One ShortConv on each of the q, k and v projections, cached under the names 'q', 'k' and 'v'."""

    def __init__(self, q_dim: int, k_dim: int, v_dim: int, size: int):
        super().__init__()
        self.q, self.k, self.v = ShortConv(q_dim, size, "q"), ShortConv(k_dim, size, "k"), ShortConv(v_dim, size, "v")

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache=None, cu_seqlens=None):
        """(B, T, dim) projections -> the same, convolved (then SiLU); reads and refreshes cache.conv when given."""
        pos = shared_positions(q, self.q.size, cache, cu_seqlens)
        return self.q(q, cache, cu_seqlens, pos), self.k(k, cache, cu_seqlens, pos), self.v(v, cache, cu_seqlens, pos)


def shared_positions(x: torch.Tensor, size: int, cache: Any, cu_seqlens: Any) -> torch.Tensor | None:
    """The document positions q, k and v's convolutions share on a packed training forward, computed once."""
    if cu_seqlens is None or cache is not None or size == 0:
        return None
    return positions_in_documents(cu_seqlens, x.shape[1])


def plain_conv(cfg, q_dim: int, k_dim: int, v_dim: int) -> QKVShortConv | None:
    """linear / lightning: the convolutions for model.linear.plain_conv_size, or None for 0."""
    size = cfg.linear.plain_conv_size
    if size < 0:
        raise ValueError(f"model.linear.plain_conv_size={size}; valid: 0 (none) or a kernel width >= 1")
    return QKVShortConv(q_dim, k_dim, v_dim, size) if size else None
