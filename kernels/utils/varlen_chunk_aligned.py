"""Packed sequences (`cu_seqlens`) laid out chunk-aligned, for the Triton chunk paths.

`varlen_padded.py` pads every document to the longest one, (N, L_max, ...): simple, and right for the PyTorch paths, but
with many short documents most of that batch is padding (219 documents of 8-512 tokens in 16,384, log-uniform
lengths: N * L_max ~6x the tokens). The Triton paths instead pad each document only up to a multiple of the chunk C
and keep the documents in one row, (1, T', ...) with T' = sum_i ceil(len_i / C) * C (~1.6x the tokens there at
C = 64), so that no chunk straddles two documents:

    lengths 5, 19, 1, C = 8:   packed (1, 25)   ->   chunk-aligned (1, 40) = [5 + 3 zeros | 19 + 5 zeros | 1 + 7 zeros]
                                                     padded batch (3, 19) = 57 slots, as `varlen_padded.py` lays it out

The chunk-parallel kernels (scores, the WY/UT solve) are per chunk, so they run unchanged on that row; the
chunk-state kernels walk each document's chunks [chunk_starts[i], chunk_starts[i + 1]) on their own, from h0[i]
to S[i] (`common/chunk_state.py`). Zero padding at a document's end is inert: k = 0 and beta = 0 write nothing and
g = 0 (log decay: no decay) leaves the state as the last real token left it.
"""
from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable

import torch

from kernels.utils.host_offsets import host_offsets


class ChunkAlignedLayout:
    """Index maps between the packed (1, T, ...) layout and the chunk-aligned (1, T', ...) one, plus the per-document
    offsets the chunk-state kernels read.

    As in `PackedLayout`, each token moves once through one index of T unique slots (`slot`: token t's place in the
    T' row): pad is an index_copy into zeros and unpad an index_select, so their backward passes are an index_select
    and an index_copy over unique rows (never a gather with many slots pointing at one token, whose backward
    accumulation serialises on the GPU).

    Attributes: `chunk` (C), `num_seqs` (N), `total` (T), `padded_total` (T'), `num_chunks` (T' / C); int32 on
    cu_seqlens' device, `seq_starts` (N + 1,) the documents' token offsets in the packed row (cu_seqlens) and
    `chunk_starts` (N + 1,) their chunk offsets in the chunk-aligned row; int64, `slot` (T,) and its inverse `src`
    (T',), -1 at padding.
    """

    def __init__(self, cu_seqlens: torch.Tensor, chunk: int, lengths: list[int] | None = None) -> None:
        if lengths is None:
            lengths = _lengths(host_offsets(cu_seqlens))  # the offsets below are host arithmetic
        device = cu_seqlens.device
        self.chunk, self.num_seqs, self.total = chunk, len(lengths), sum(lengths)
        n_chunks = [-(-length // chunk) for length in lengths]
        chunk_starts = [0]
        for n in n_chunks:
            chunk_starts.append(chunk_starts[-1] + n)
        self.num_chunks = chunk_starts[-1]
        self.padded_total = self.num_chunks * chunk
        self.seq_starts = cu_seqlens.to(torch.int32)
        self.chunk_starts = torch.tensor(chunk_starts, dtype=torch.int32, device=device)

        lengths_t = torch.tensor(lengths, device=device)
        seq_of_token = torch.repeat_interleave(torch.arange(self.num_seqs, device=device), lengths_t,
                                               output_size=self.total)  # (T,)
        shift = self.chunk_starts[:-1].long() * chunk - cu_seqlens[:-1].long()  # (N,) padded start - packed start
        self.slot = torch.arange(self.total, device=device) + shift[seq_of_token]  # (T,) unique, into T'
        # (T',) the packed token each chunk-aligned slot holds, -1 for padding (the fused pad's map)
        self.src = torch.full((self.padded_total,), -1, dtype=torch.long, device=device).index_copy(
            0, self.slot, torch.arange(self.total, device=device))

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(1, T, ...) -> (1, T', ...), each document zero-padded to whole chunks."""
        return x.new_zeros(self.padded_total, *x.shape[2:]).index_copy(0, self.slot, x[0]).unsqueeze(0)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(1, T', ...) -> (1, T, ...)."""
        return x[0].index_select(0, self.slot).unsqueeze(0)


def _lengths(offsets: tuple[int, ...]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(offsets)]


class _Documents:
    """One cu_seqlens tensor's document lengths (on the host) and its layouts, one per chunk size."""

    def __init__(self, cu_seqlens: torch.Tensor) -> None:
        self.lengths = _lengths(host_offsets(cu_seqlens))
        self.max_len = max(self.lengths)
        self.layouts: dict[int, ChunkAlignedLayout] = {}


_last: tuple[weakref.ref, int, _Documents] | None = None


def chunk_aligned_layout(cu_seqlens: torch.Tensor, chunk_for: Callable[[int], int]) -> ChunkAlignedLayout:
    """The ChunkAlignedLayout of `cu_seqlens` for the chunk `chunk_for(longest document)`, built once per tensor
    and chunk from its host offsets (`host_offsets`): every layer of a forward pass gets the same cu_seqlens object.
    Rebuilt when the tensor changes (another object, or the same one modified in place)."""
    global _last
    if _last is None or _last[0]() is not cu_seqlens or _last[1] != cu_seqlens._version:
        _last = (weakref.ref(cu_seqlens), cu_seqlens._version, _Documents(cu_seqlens))
    docs = _last[2]
    chunk = chunk_for(docs.max_len)
    if chunk not in docs.layouts:
        docs.layouts[chunk] = ChunkAlignedLayout(cu_seqlens, chunk, docs.lengths)
    return docs.layouts[chunk]
