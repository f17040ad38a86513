"""The host copy of a `cu_seqlens` tensor, so that packed-sequence checks and layouts never wait for the device.

The data builds the document boundaries on the host. Whoever moves a batch to the device records that copy against
the device tensor (`record_host_offsets`); every layer and kernel of the step then reads the offsets back with
`host_offsets(cu_seqlens)` instead of reading the device tensor. A cu_seqlens with no recorded copy (a public kernel
entry point called with only a device tensor) is read once, one host sync, and remembered for the layers after it.
"""
from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

_known: dict[int, tuple[weakref.ref, int, tuple[int, ...]]] = {}
"""id(cu_seqlens) -> (weak reference to it, its _version when recorded, its offsets); dropped when it dies."""


def record_host_offsets(cu_seqlens: torch.Tensor, offsets: Sequence[int]) -> None:
    """Record `offsets` (ints on the host) as the values of `cu_seqlens`; the caller vouches that they are equal."""
    offsets = tuple(int(o) for o in offsets)
    if cu_seqlens.dim() != 1 or len(offsets) != cu_seqlens.numel():
        raise ValueError(f"host offsets have {len(offsets)} entries but cu_seqlens has shape "
                         f"{tuple(cu_seqlens.shape)}; valid: one host offset per entry of a 1-D cu_seqlens")
    key = id(cu_seqlens)

    def forget(ref: weakref.ref) -> None:
        if key in _known and _known[key][0] is ref:
            del _known[key]

    _known[key] = (weakref.ref(cu_seqlens, forget), cu_seqlens._version, offsets)


def host_offsets(cu_seqlens: torch.Tensor) -> tuple[int, ...]:
    """cu_seqlens' values as ints on the host: the recorded copy, else read once from the tensor and remembered
    (read again if the tensor was modified in place since)."""
    entry = _known.get(id(cu_seqlens))
    if entry is not None and entry[0]() is cu_seqlens and entry[1] == cu_seqlens._version:
        return entry[2]
    offsets = tuple(cu_seqlens.tolist())  # the one host sync for a tensor nobody recorded
    if cu_seqlens.dim() == 1:
        record_host_offsets(cu_seqlens, offsets)
    return offsets

