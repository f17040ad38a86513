"""Token positions for RoPE, and the checks on how a mixer was called (cache vs packed documents)."""

from __future__ import annotations

from typing import Any

import torch

from hybrid.document_positions import positions_in_documents
from kernels.utils.host_offsets import host_offsets


def token_positions(x: torch.Tensor, cache: Any = None, cu_seqlens: torch.Tensor | None = None) -> torch.Tensor:
    """(T,) positions of x's tokens: cache.length + t when decoding, restarting at each document start when packed.

    x: (B, T, d_model). A cache is any object with `.length`. Raises ValueError on a packed call that cannot be right.
    """
    T = x.shape[1]
    if cu_seqlens is None:
        start = 0 if cache is None else cache.length
        return torch.arange(start, start + T, device=x.device)
    if cache is not None:
        raise ValueError("cu_seqlens is for training forwards only; got it together with a cache")
    if x.shape[0] != 1:
        raise ValueError(f"cu_seqlens packs documents into one row; got batch size {x.shape[0]}, valid: 1")
    offsets = host_offsets(cu_seqlens) if cu_seqlens.dim() == 1 else None
    if offsets is None or offsets[0] != 0 or offsets[-1] != T:
        raise ValueError(f"cu_seqlens={cu_seqlens.tolist()} must be 1-D, start at 0 and end at T={T}")
    return positions_in_documents(cu_seqlens, T)  # int32, made once per batch for every layer
