"""Time axis <-> chunks: the one-copy `to_chunks_contiguous` is `to_chunks(x.to(dtype)).contiguous()`, gradient too."""
from __future__ import annotations

import pytest
import torch

from kernels.utils.chunking import to_chunks, to_chunks_contiguous


@pytest.mark.parametrize("T", [32, 37], ids=["whole-chunks", "padded-tail"])
def test_to_chunks_contiguous_is_one_copy_of_to_chunks(T: int) -> None:
    x = torch.randn(2, T, 3, 5, dtype=torch.float64).to(torch.bfloat16).transpose(1, 2).contiguous().transpose(1, 2)
    x.requires_grad_()  # a strided bf16 input, as the Triton paths receive it
    got = to_chunks_contiguous(x, 16, torch.float32)
    want = to_chunks(x.detach().float(), 16).contiguous()
    assert got.dtype == torch.float32 and got.is_contiguous() and torch.equal(got, want)
    dy = torch.randn(got.shape)
    (dx,) = torch.autograd.grad(got, x, dy)
    unchunked = dy.permute(0, 2, 3, 1, 4).reshape(2, -1, 3, 5)[:, :T]  # the padded tail gets no gradient
    assert dx.dtype == torch.bfloat16 and torch.equal(dx, unchunked.bfloat16())
