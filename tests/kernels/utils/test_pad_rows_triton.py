"""kernels/utils/pad_rows_triton.py: the fused chunk-aligned pad of several tensors against ChunkAlignedLayout.pad
(the definition), forward and gradients, bit for bit (it only moves values), for mixed dtypes and widths, strided
inputs and documents that fill whole chunks or one token of one.

Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.utils.varlen_chunk_aligned import ChunkAlignedLayout
from tests.kernels.harness import fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.utils.pad_rows_triton import BR, MAX_TENSORS, pad_rows  # noqa: E402


def _layout(lengths: list[int], chunk: int) -> ChunkAlignedLayout:
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=_DEVICE)
    return ChunkAlignedLayout(cu, chunk)


def _check(lengths: list[int], chunk: int, shapes: list[tuple[int, ...]], dtypes: list[torch.dtype],
           strided: bool = False) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    layout = _layout(lengths, chunk)
    T = sum(lengths)
    xs = []
    for shape, dtype in zip(shapes, dtypes):
        x = torch.randn(1, T, *shape, generator=gen, dtype=torch.float64).to(dtype)
        if strided:  # a slice of a wider tensor, as the convs' q/k/v views of one projection
            x = torch.cat([x, torch.zeros(1, T, *shape[:-1], 3, dtype=dtype)], -1)[..., :shape[-1]]
        xs.append(x.to(_DEVICE).requires_grad_())
    ys = pad_rows(layout.src, layout.slot, *xs)
    refs = [layout.pad(x) for x in xs]
    for y, ref in zip(ys, refs):
        assert y.dtype == ref.dtype and torch.equal(y, ref), seed_note(seed)
    dys = [torch.randn(ref.shape, generator=gen, dtype=torch.float64).to(ref.dtype).to(_DEVICE) for ref in refs]
    grads = torch.autograd.grad(ys, xs, dys)
    ref_grads = torch.autograd.grad(refs, xs, dys)
    for g, ref in zip(grads, ref_grads):
        assert g.shape == ref.shape and g.dtype == ref.dtype and torch.equal(g, ref), seed_note(seed)


def test_pads_a_delta_rule_layers_five_tensors_as_the_definition() -> None:
    # q, k (f32 from the L2 norm), v (bf16), g (H, K) f32 and beta (H,) f32; a document longer than a program's rows
    _check([5, 1, 16, 37, 17], 16, [(2, 8), (2, 8), (2, 6), (2, 8), (2,)],
           [torch.float32, torch.float32, torch.bfloat16, torch.float32, torch.float32])


@pytest.mark.parametrize("n", range(1, MAX_TENSORS + 1))
def test_pads_any_number_of_tensors_up_to_the_limit(n: int) -> None:
    _check([3, 8, 2 * BR + 1], 8, [(4,)] * n, [torch.float64] * n)


def test_reads_strided_rows_and_rows_wider_than_one_block() -> None:
    _check([7, 9], 4, [(130,), (3, 5)], [torch.float64, torch.bfloat16], strided=True)


def test_refuses_more_tensors_or_another_length_with_one_line() -> None:
    layout = _layout([3, 4], 4)
    x = torch.zeros(1, 7, 2, device=_DEVICE)
    with pytest.raises(ValueError, match=f"valid: 1..{MAX_TENSORS}"):
        pad_rows(layout.src, layout.slot, *[x] * (MAX_TENSORS + 1))
    with pytest.raises(ValueError, match=r"shape \(1, 6, 2\); valid: \(1, 7, ...\)"):
        pad_rows(layout.src, layout.slot, torch.zeros(1, 6, 2, device=_DEVICE))
