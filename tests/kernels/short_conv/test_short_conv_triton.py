"""The fused short convolution + SiLU kernel (`kernels/short_conv/triton.py`) against the eager definition
(`kernels/short_conv/naive.py`) in float64: y, dx and dw, for whole rows and for packed documents.

Inputs are drawn fresh in float64 and rounded once to the test dtype; the reference runs on the rounded values in
float64, so the bounds measure the kernel's float32 arithmetic and its rounding of y and dx to the input dtype.
Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.short_conv import document_positions, short_conv_reference
from tests.kernels.harness import assert_close, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.short_conv.triton import BD, BT, short_conv_triton  # noqa: E402

_BOUNDS = {torch.float32: (1e-6, 1e-6, 1e-6), torch.bfloat16: (1e-2, 1e-2, 1e-2)}  # (y, dx, dw) error ratios


def _check(B: int, T: int, D: int, W: int, dtype: torch.dtype, cu_seqlens: list[int] | None = None,
           sliced: bool = False) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(B, T, D, generator=gen, dtype=torch.float64) * 2).to(dtype).double()
    weight = torch.randn(D, W, generator=gen, dtype=torch.float64).float().double()  # a float32 parameter
    dy = torch.randn(B, T, D, generator=gen, dtype=torch.float64).to(dtype).double()
    pos = None if cu_seqlens is None else document_positions(cu_seqlens, T, "cpu")

    xt = x.to(_DEVICE, dtype).requires_grad_()
    if sliced:  # a slice of a wider projection output, as the mixers pass it: read in place with its row stride
        wide = torch.cat([torch.randn(B, T, 3, dtype=dtype), x.to(dtype), torch.randn(B, T, 5, dtype=dtype)], -1)
        xt = wide.to(_DEVICE).requires_grad_()
    wt = weight.to(_DEVICE, torch.float32).reshape(D, 1, W).requires_grad_()  # the module's (D, 1, W) parameter
    y = short_conv_triton(xt[..., 3:3 + D] if sliced else xt, wt, None if pos is None else pos.to(_DEVICE))
    assert y.dtype == dtype and y.shape == x.shape, seed_note(seed)
    dx, dw = torch.autograd.grad(y, [xt, wt], dy.to(_DEVICE, dtype))
    if sliced:
        assert torch.count_nonzero(dx[..., :3]) == 0 and torch.count_nonzero(dx[..., 3 + D:]) == 0
        dx = dx[..., 3:3 + D]
    assert dx.dtype == dtype and dw.dtype == torch.float32 and dw.shape == (D, 1, W), seed_note(seed)

    xr, wr = x.clone().requires_grad_(), weight.clone().requires_grad_()
    ref = short_conv_reference(xr, wr, pos)
    ref_dx, ref_dw = torch.autograd.grad(ref, [xr, wr], dy)
    y_bound, dx_bound, dw_bound = _BOUNDS[dtype]
    assert_close("y", y.detach().cpu(), ref.detach(), y_bound, seed)
    assert_close("dx", dx.cpu(), ref_dx, dx_bound, seed)
    assert_close("dw", dw.cpu().reshape(D, W), ref_dw, dw_bound, seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_short_conv_kernel_matches_float64(dtype: torch.dtype) -> None:
    _check(2, 2 * BT + 7, BD + 24, 4, dtype)  # T and D not multiples of the tile


def test_short_conv_kernel_reads_a_slice_of_a_wider_tensor_in_place() -> None:
    _check(3, 21, 10, 4, torch.float32, sliced=True)
    _check(1, 21, 10, 4, torch.bfloat16, [0, 5, 21], sliced=True)


@pytest.mark.parametrize("W", [1, 2, 3, 4, 5])
def test_short_conv_kernel_any_width(W: int) -> None:
    _check(1, 19, 12, W, torch.float32)


def test_short_conv_kernel_restarts_at_document_starts() -> None:
    # documents of 1, 2, 3 tokens (shorter than the width), one crossing a tile boundary, one filling the rest
    T = BT + 13
    cu = [0, 1, 3, 6, BT - 2, BT + 3, T]
    _check(1, T, 40, 4, torch.float32, cu)
    _check(1, T, 40, 4, torch.bfloat16, cu)


def test_packed_documents_do_not_see_each_other() -> None:
    # a change in the first document leaves the second one's output and its inputs' gradients untouched
    T, D = 20, 8
    pos = document_positions([0, 9, T], T, "cpu").to(_DEVICE)
    w = torch.randn(D, 4, device=_DEVICE)
    x = torch.randn(1, T, D, device=_DEVICE)
    x2 = x.clone()
    x2[:, :9] += 5
    assert torch.equal(short_conv_triton(x, w, pos)[:, 9:], short_conv_triton(x2, w, pos)[:, 9:])
    xg = x.clone().requires_grad_()
    short_conv_triton(xg, w, pos)[:, 9:].sum().backward()
    assert torch.count_nonzero(xg.grad[:, :9]) == 0


def test_short_conv_kernel_names_bad_arguments() -> None:
    x = torch.randn(1, 5, 4, device=_DEVICE)
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        short_conv_triton(x, torch.randn(3, 4, device=_DEVICE))
    with pytest.raises(ValueError, match="int32"):
        short_conv_triton(x, torch.randn(4, 4, device=_DEVICE), torch.arange(5, device=_DEVICE))
