"""The fused RoPE kernel (`kernels/rope/triton.py`) against the definition (`kernels/rope/naive.py`): y and dx in
float64 (the kernel computing in float64), and in float32 / bf16 against the float64 reference of the rounded input;
positions per row (packed documents) or shared, partial rotation, strided input, and heads beyond one program's block.

Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.rope import rope_reference
from tests.kernels.harness import assert_close, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.rope.triton import rope_triton  # noqa: E402

_BOUNDS = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 1e-2}  # error ratios of y and dx


def _check(B: int, T: int, H: int, D: int, R: int, dtype: torch.dtype, packed: bool = False,
           sliced: bool = False, theta: float = 10000.0) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, H, D, generator=gen, dtype=torch.float64).to(dtype).double()
    dy = torch.randn(B, T, H, D, generator=gen, dtype=torch.float64).to(dtype).double()
    if packed:  # each row restarts at its own document starts
        starts = torch.rand(B, T, generator=gen) < 0.2
        starts[:, 0] = True
        idx = torch.arange(T).expand(B, T)
        last = torch.cummax(torch.where(starts, idx, 0), dim=1).values
        pos = idx - last
    else:
        pos = torch.arange(T) + 3  # an offset, as when decoding after a cache

    xt = x.to(_DEVICE, dtype)
    if sliced:  # heads of a wider projection output (q of a joint q/k/v), read with its strides
        wide = torch.randn(B, T, 2 * H, D + 4, dtype=dtype)
        wide[:, :, :H, :D] = x.to(dtype)
        xt = wide.to(_DEVICE)
    xt.requires_grad_()
    xin = xt[:, :, :H, :D] if sliced else xt
    y = rope_triton(xin, pos.to(_DEVICE), R, theta)
    assert y.dtype == dtype and y.shape == x.shape and y.is_contiguous(), seed_note(seed)
    (dx,) = torch.autograd.grad(y, [xt], dy.to(_DEVICE, dtype))
    if sliced:
        assert torch.count_nonzero(dx[:, :, H:]) == 0 and torch.count_nonzero(dx[..., D:]) == 0, seed_note(seed)
        dx = dx[:, :, :H, :D]

    xr = x.clone().requires_grad_()
    ref = rope_reference(xr, pos, R, theta)
    (ref_dx,) = torch.autograd.grad(ref, [xr], dy)
    assert_close("y", y.detach().cpu().double(), ref.detach(), _BOUNDS[dtype], seed)
    assert_close("dx", dx.cpu().double(), ref_dx, _BOUNDS[dtype], seed)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=["f64", "f32", "bf16"])
def test_rope_kernel_matches_the_definition(dtype: torch.dtype) -> None:
    _check(2, 37, 3, 24, 24, dtype)  # whole head rotated, odd T, H not a power of two


@pytest.mark.parametrize("R", [2, 6, 16])
def test_rope_kernel_rotates_part_of_each_head_and_copies_the_rest(R: int) -> None:
    _check(1, 19, 2, 20, R, torch.float64)  # D - R not a power of two: the pass-through block is masked


def test_rope_kernel_restarts_positions_per_document_in_each_row() -> None:
    _check(3, 41, 2, 16, 16, torch.float64, packed=True)
    _check(2, 29, 4, 32, 8, torch.bfloat16, packed=True, theta=500.0)


def test_rope_kernel_reads_heads_of_a_wider_tensor_in_place() -> None:
    _check(2, 13, 3, 16, 16, torch.float32, sliced=True)


def test_rope_kernel_covers_more_heads_than_one_program() -> None:
    _check(1, 5, 19, 8, 8, torch.float64)  # 19 heads: two programs of 16 along the heads, the second masked


def test_rope_kernel_refuses_malformed_input_with_one_line() -> None:
    x = torch.zeros(1, 4, 2, 8, device=_DEVICE)
    with pytest.raises(ValueError, match="rotary_dim=3"):
        rope_triton(x, torch.arange(4, device=_DEVICE), 3, 1e4)
    with pytest.raises(ValueError, match=r"positions \(5,\)"):
        rope_triton(x, torch.arange(5, device=_DEVICE), 8, 1e4)
