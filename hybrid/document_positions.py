"""Each token's offset inside its document in a packed row, made once per batch.

The short convolutions (document restarts) and RoPE (positions restart at every document) of every layer need the
same (T,) positions of the same cu_seqlens tensor. They are built on the host from its recorded offsets
(`kernels.utils.host_offsets`), moved to the device in one copy, and kept for as long as that tensor lives
unchanged, instead of five or six kernels per call in every layer. `kernels.short_conv.document_positions` is the
definition.
"""
from __future__ import annotations

import itertools
import weakref

import torch

from kernels.utils.host_offsets import host_offsets

_last: tuple[weakref.ref, int, int, torch.Tensor] | None = None
"""(cu_seqlens, its _version, T, its positions) of the latest call."""


def positions_in_documents(cu_seqlens: torch.Tensor, T: int) -> torch.Tensor:
    """(T,) int32 on cu_seqlens' device: t minus the start of t's document; cu_seqlens (N + 1,) from 0 to T."""
    global _last
    if _last is not None and _last[0]() is cu_seqlens and _last[1:3] == (cu_seqlens._version, T):
        return _last[3]
    offsets = host_offsets(cu_seqlens)
    if offsets[0] != 0 or offsets[-1] != T:
        raise ValueError(f"cu_seqlens={list(offsets)} must start at 0 and end at T={T}")
    pos = torch.cat([torch.arange(b - a, dtype=torch.int32) for a, b in itertools.pairwise(offsets)])
    pos = pos.to(cu_seqlens.device, non_blocking=True)
    _last = (weakref.ref(cu_seqlens), cu_seqlens._version, T, pos)
    return pos
