"""kernels/utils/varlen_chunk_aligned.py, ChunkAlignedLayout: packed (1, T, ...) <-> chunk-aligned (1, T', ...),
offsets, gradients."""
from __future__ import annotations

import torch

from kernels.utils.varlen_chunk_aligned import ChunkAlignedLayout, chunk_aligned_layout
from tests.kernels.harness import check_pad_unpad_gradients


def _case(lengths: list[int], chunk: int, rest: tuple[int, ...] = (3, 2)):
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    x = torch.randn(1, sum(lengths), *rest, dtype=torch.float64, requires_grad=True)
    return ChunkAlignedLayout(cu, chunk), cu, x


def test_each_document_starts_a_chunk_and_is_zero_padded_to_whole_chunks():
    lengths, C = [5, 1, 16, 37, 17], 16
    layout, cu, x = _case(lengths, C)
    n_chunks = [1, 1, 1, 3, 2]
    assert layout.chunk_starts.tolist() == [0, 1, 2, 3, 6, 8]
    assert layout.seq_starts.tolist() == cu.tolist()
    assert layout.chunk_starts.dtype == layout.seq_starts.dtype == torch.int32
    assert (layout.num_seqs, layout.total, layout.num_chunks, layout.padded_total) == (5, 76, 8, 8 * C)
    row = layout.pad(x)
    assert row.shape == (1, 8 * C, 3, 2)
    start = 0
    for i, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
        assert torch.equal(row[0, start:start + b - a], x[0, a:b])
        assert not row[0, start + b - a:start + n_chunks[i] * C].any()  # the document's tail chunk: zeros
        start += n_chunks[i] * C
    assert torch.equal(layout.unpad(row), x)  # and back
    assert layout.slot.unique().numel() == layout.total  # one slot per token: index_copy / index_select, no gather


def test_pad_and_unpad_gradients_are_the_identity_on_tokens():
    layout, _, x = _case([4, 9, 1, 20], 8, rest=(2,))
    check_pad_unpad_gradients(layout, x)


def test_whole_chunks_need_no_padding():
    layout, _, x = _case([16, 32], 16, rest=())
    assert layout.padded_total == layout.total == 48
    assert torch.equal(layout.pad(x), x)


def test_layout_is_shared_per_cu_seqlens_tensor_and_chunk_and_rebuilt_when_it_changes():
    cu = torch.tensor([0, 3, 40])
    seen = []
    first = chunk_aligned_layout(cu, lambda longest: seen.append(longest) or 16)
    assert seen == [37] and first.chunk == 16  # the chunk is chosen from the longest document
    assert chunk_aligned_layout(cu, lambda _: 16) is first  # every layer of one forward pass
    assert chunk_aligned_layout(cu, lambda _: 32).chunk == 32  # another chunk: its own layout
    assert chunk_aligned_layout(cu.clone(), lambda _: 16) is not first  # another batch
    cu[1] = 20  # modified in place: the layout must follow
    again = chunk_aligned_layout(cu, lambda _: 16)
    assert again is not first and again.chunk_starts.tolist() == [0, 2, 4]
