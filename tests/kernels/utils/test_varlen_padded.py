"""kernels/utils/varlen_padded.PackedLayout: packed (1, T, ...) <-> zero-padded (N, L, ...) rows, values and
gradients."""
from __future__ import annotations

import torch

from kernels.utils.varlen_padded import PackedLayout, packed_layout
from tests.kernels.harness import check_pad_unpad_gradients


def _case(lengths: list[int], rest: tuple[int, ...] = (3, 2)):
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    x = torch.randn(1, sum(lengths), *rest, dtype=torch.float64, requires_grad=True)
    return PackedLayout(cu), cu, x


def test_pad_places_each_document_in_its_own_zero_padded_row():
    layout, cu, x = _case([5, 1, 7, 3])
    rows = layout.pad(x)
    assert rows.shape == (4, 7, 3, 2)
    for i, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
        assert torch.equal(rows[i, : b - a], x[0, a:b])
        assert not rows[i, b - a:].any()  # padding after the document's last token is zero
    assert torch.equal(layout.unpad(rows), x)  # and back


def test_pad_and_unpad_gradients_are_the_identity_on_tokens():
    layout, _, x = _case([4, 9, 2], rest=(2,))
    check_pad_unpad_gradients(layout, x)


def test_one_document_is_one_row():
    layout, _, x = _case([6], rest=())
    assert torch.equal(layout.pad(x), x)


def test_packed_layout_is_shared_per_cu_seqlens_tensor_and_rebuilt_when_it_changes():
    cu = torch.tensor([0, 3, 8])
    first = packed_layout(cu)
    assert packed_layout(cu) is first  # every layer of one forward pass
    assert packed_layout(cu.clone()) is not first  # another batch
    cu[1] = 5  # modified in place: the layout must follow
    again = packed_layout(cu)
    assert again is not first and again.pad(torch.arange(8.0)[None]).tolist() == [
        [0.0, 1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 0.0, 0.0]]
