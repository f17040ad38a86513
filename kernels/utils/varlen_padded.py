"""Packed sequences (`cu_seqlens`) to a zero-padded batch and back, for the PyTorch paths.

FLA packs N documents into one row, (1, T, ...) with boundaries cu_seqlens = [0, ..., T]. The PyTorch paths run the
documents side by side instead: (N, L, ...), L the longest document, zero-padded at each document's end. Zero padding
is inert: k = 0, beta = 0 and g = 0 leave the state untouched, so each row's final state is its document's, and no
row can see another.
"""
from __future__ import annotations

import itertools
import weakref

import torch

from kernels.utils.host_offsets import host_offsets


class PackedLayout:
    """Index maps between the packed (1, T, ...) layout and the padded (N, L, ...) one.

    Both directions move each token once through one index of T unique slots (`slot`: token t's place in the
    flattened (N * L) padded rows): pad is an index_copy into zeros and unpad an index_select, so their backward
    passes are an index_select and an index_add over unique rows (a gather would point every padding slot at one
    token, whose gradient accumulation serialises on the GPU).
    """

    def __init__(self, cu_seqlens: torch.Tensor) -> None:
        offsets = host_offsets(cu_seqlens)  # the shapes come from the host copy, never from the device
        cu = cu_seqlens.long()
        lengths = cu.diff()  # (N,)
        self.num_seqs = lengths.numel()
        self.max_len = max(b - a for a, b in itertools.pairwise(offsets))
        self.total = offsets[-1]
        seq_of_token = torch.repeat_interleave(torch.arange(self.num_seqs, device=cu.device), lengths,
                                               output_size=self.total)  # (T,)
        pos_in_seq = torch.arange(self.total, device=cu.device) - cu[seq_of_token]  # (T,)
        self.slot = seq_of_token * self.max_len + pos_in_seq  # (T,) unique, into N * L

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(1, T, ...) -> (N, L, ...), zeros past each sequence's end."""
        rest = x.shape[2:]
        rows = x.new_zeros(self.num_seqs * self.max_len, *rest).index_copy(0, self.slot, x[0])
        return rows.view(self.num_seqs, self.max_len, *rest)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, ...) -> (1, T, ...)."""
        return x.reshape(self.num_seqs * self.max_len, *x.shape[2:]).index_select(0, self.slot).unsqueeze(0)


_last: tuple[weakref.ref, int, PackedLayout] | None = None


def packed_layout(cu_seqlens: torch.Tensor) -> PackedLayout:
    """The PackedLayout of `cu_seqlens`, built once per tensor: every layer of a forward pass gets the same
    cu_seqlens object. Rebuilt when the tensor changes (another object,
    or the same one modified in place)."""
    global _last
    if _last is not None and _last[0]() is cu_seqlens and _last[1] == cu_seqlens._version:
        return _last[2]
    layout = PackedLayout(cu_seqlens)
    _last = (weakref.ref(cu_seqlens), cu_seqlens._version, layout)
    return layout
