"""hybrid/document_positions.py: the packed row's positions inside documents, as the definition
(kernels.short_conv.document_positions) gives them, made once per cu_seqlens tensor and remade when it changes."""
from __future__ import annotations

import pytest
import torch

from hybrid.document_positions import positions_in_documents
from kernels.short_conv import document_positions


def test_positions_restart_at_every_document_as_the_definition_says():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        lengths = torch.randint(1, 40, (int(torch.randint(1, 9, (1,), generator=gen)),), generator=gen)
        cu = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)]).to(torch.int32)
        T = int(cu[-1])
        pos = positions_in_documents(cu, T)
        assert pos.dtype == torch.int32 and torch.equal(pos, document_positions(cu, T, "cpu"))


def test_every_layer_of_a_forward_gets_the_same_tensor_and_a_changed_batch_a_new_one():
    cu = torch.tensor([0, 3, 10], dtype=torch.int32)
    first = positions_in_documents(cu, 10)
    assert positions_in_documents(cu, 10) is first  # made once for the batch
    cu[1] = 5  # modified in place: its offsets, and so its positions, are remade
    assert positions_in_documents(cu, 10).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    other = torch.tensor([0, 3, 10], dtype=torch.int32)
    assert positions_in_documents(other, 10) is not first and torch.equal(positions_in_documents(other, 10), first)


def test_offsets_that_do_not_cover_the_row_are_a_one_line_error():
    with pytest.raises(ValueError, match=r"must start at 0 and end at T=9"):
        positions_in_documents(torch.tensor([0, 3, 10]), 9)
