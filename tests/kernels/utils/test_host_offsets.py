"""kernels/utils/host_offsets.py: a recorded host copy is what every reader gets (the tensor is not read), an
unrecorded tensor is read once, and an in-place change or a bad copy is caught."""
from __future__ import annotations

import pytest
import torch

from kernels.utils.host_offsets import host_offsets, record_host_offsets
from kernels.utils.varlen_chunk_aligned import chunk_aligned_layout
from kernels.utils.varlen_padded import packed_layout


def test_a_recorded_copy_is_returned_without_reading_the_tensor(monkeypatch) -> None:
    cu = torch.tensor([0, 3, 10], dtype=torch.int32)
    record_host_offsets(cu, [0, 3, 10])

    def no_read(*args, **kwargs):
        raise AssertionError("cu_seqlens was read back")

    monkeypatch.setattr(torch.Tensor, "tolist", no_read)
    assert host_offsets(cu) == (0, 3, 10)
    layout = packed_layout(cu)
    assert (layout.num_seqs, layout.max_len, layout.total) == (2, 7, 10)
    aligned = chunk_aligned_layout(cu, lambda longest: 4)
    assert (aligned.num_chunks, aligned.padded_total) == (3, 12)


def test_an_unrecorded_tensor_is_read_once_and_again_after_an_in_place_change(monkeypatch) -> None:
    cu = torch.tensor([0, 4, 9])
    reads = []
    real = torch.Tensor.tolist

    def counted(t, *args, **kwargs):
        reads.append(1)
        return real(t, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "tolist", counted)
    assert host_offsets(cu) == (0, 4, 9) and host_offsets(cu) == (0, 4, 9)
    assert len(reads) == 1
    cu[1] = 5
    assert host_offsets(cu) == (0, 5, 9) and len(reads) == 2


def test_a_copy_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match=r"host offsets have 2 entries but cu_seqlens has shape \(3,\)"):
        record_host_offsets(torch.tensor([0, 4, 9]), [0, 9])
