"""The fused L2-norm kernel pair (`kernels/utils/l2norm_triton.py`) against the eager `kernels/utils/l2norm.py: l2norm`
in float64.

Inputs are drawn fresh in float64 and rounded once to the test dtype; the reference runs on the rounded values in
float64 (forward, and autograd for dx with a random dy), so the bounds measure the kernel's float32 arithmetic and,
for half-precision inputs, the final rounding of dx to the input dtype. Rows of every size, including ones whose
sum of squares is of the order of eps, so the eps term is checked too.

Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.utils.l2norm import l2norm
from tests.kernels.harness import assert_close, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.utils.l2norm_triton import l2norm_pair_triton, l2norm_triton  # noqa: E402  (after the interpreter check)

# (y, dx) error-ratio bounds: y is float32 always; dx is rounded to the input dtype (bf16 2^-9, fp16 2^-11 relative)
_BOUNDS = {torch.float32: (1e-6, 1e-6), torch.bfloat16: (1e-6, 5e-3), torch.float16: (1e-6, 1e-3)}


def _rows(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Float64 rows of mixed norms: most O(1), some ~1e-3 (sum of squares ~ eps), one row all zeros."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64)
    small = torch.rand(*shape[:-1], 1, generator=gen, dtype=torch.float64) < 0.2
    x = torch.where(small, x * 1e-3 / shape[-1] ** 0.5, x)
    x.view(-1, shape[-1])[0] = 0.0
    return x


def _check(shape: tuple[int, ...], dtype: torch.dtype, scale: float, view=None) -> None:
    seed = fresh_seed()
    base = _rows(shape, seed).to(dtype).double()  # round once: the reference sees the kernel's input values
    gen = torch.Generator().manual_seed(seed + 1)
    dy = torch.randn(shape, generator=gen, dtype=torch.float64).float().double()  # the kernel's dy is float32

    x = base.to(_DEVICE, dtype)
    if view is not None:
        x = view(x)
        assert not x.is_contiguous()
    x.requires_grad_()
    y = l2norm_triton(x, scale)
    assert y.dtype == torch.float32 and y.shape == x.shape and y.is_contiguous(), seed_note(seed)
    (dx,) = torch.autograd.grad(y, x, dy.to(_DEVICE, torch.float32))
    assert dx.dtype == dtype and dx.shape == x.shape, seed_note(seed)

    ref_x = base.clone().requires_grad_()
    ref_y = l2norm(ref_x) * scale
    (ref_dx,) = torch.autograd.grad(ref_y, ref_x, dy)
    y_bound, dx_bound = _BOUNDS[dtype]
    assert_close("y", y.detach().cpu(), ref_y.detach(), y_bound, seed)
    assert_close("dx", dx.cpu(), ref_dx, dx_bound, seed)


@pytest.mark.parametrize("scale", [1.0, 128 ** -0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["f32", "bf16", "f16"])
def test_l2norm_kernel_matches_float64(dtype: torch.dtype, scale: float) -> None:
    _check((2, 37, 3, 128), dtype, scale)


@pytest.mark.parametrize("D", [1, 8, 100, 256])
def test_l2norm_kernel_any_head_dim(D: int) -> None:
    # a non-power-of-two width is masked up to its block; 256 is the widest head dim in use
    _check((1, 21, 2, D), torch.float32, 0.3)


def test_l2norm_kernel_reads_strided_inputs() -> None:
    def sliced_transposed(x):  # q sliced out of a wider projection, heads transposed in memory: (B, H, T, 2K)
        wide = torch.cat((x, torch.zeros_like(x)), -1)
        return wide.transpose(1, 2).contiguous().transpose(1, 2)[..., :x.shape[-1]]

    _check((2, 19, 3, 32), torch.bfloat16, 0.5, view=sliced_transposed)


@pytest.mark.parametrize("shape", [(64,), (5, 16), (2, 3, 16), (2, 2, 3, 4, 16)], ids=lambda s: f"{len(s)}d")
def test_l2norm_kernel_any_number_of_leading_dims(shape: tuple[int, ...]) -> None:
    _check(shape, torch.float32, 1.0)


def test_l2norm_kernel_out_dtype_and_empty_input() -> None:
    x = torch.randn(3, 4, 2, 16, device=_DEVICE, dtype=torch.bfloat16)
    y = l2norm_triton(x, out_dtype=torch.bfloat16)
    assert y.dtype == torch.bfloat16
    assert_close("y", y.cpu(), l2norm(x.double()).cpu(), 5e-3, 0)
    empty = torch.zeros(0, 4, 2, 16, device=_DEVICE, requires_grad=True)
    out = l2norm_triton(empty)
    (d,) = torch.autograd.grad(out.sum(), empty)
    assert out.shape == empty.shape and d.shape == empty.shape


def test_l2norm_pair_is_both_norms_in_one_launch() -> None:
    # q sliced out of a wider projection (its own strides), k contiguous: each half of the launch reads its own
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    shape, scale = (2, 23, 3, 64), 64 ** -0.5
    base_q, base_k = (_rows(shape, seed + i).to(torch.bfloat16).double() for i in (0, 1))
    dyq, dyk = (torch.randn(shape, generator=gen, dtype=torch.float64).float().double() for _ in range(2))
    wide = torch.cat((base_q, torch.zeros_like(base_q)), -1).to(_DEVICE, torch.bfloat16)
    q = wide[..., :shape[-1]].requires_grad_()
    k = base_k.to(_DEVICE, torch.bfloat16).requires_grad_()
    assert not q.is_contiguous()
    yq, yk = l2norm_pair_triton(q, k, scale)
    dq, dk = torch.autograd.grad((yq, yk), (q, k), (dyq.to(_DEVICE, torch.float32), dyk.to(_DEVICE, torch.float32)))
    for name, y, dx, base, s, dy in (("q", yq, dq, base_q, scale, dyq), ("k", yk, dk, base_k, 1.0, dyk)):
        ref_x = base.clone().requires_grad_()
        ref_y = l2norm(ref_x) * s
        (ref_dx,) = torch.autograd.grad(ref_y, ref_x, dy)
        assert y.dtype == torch.float32 and dx.dtype == torch.bfloat16, seed_note(seed)
        assert_close(f"y_{name}", y.detach().cpu(), ref_y.detach(), _BOUNDS[torch.bfloat16][0], seed)
        assert_close(f"d{name}", dx.cpu(), ref_dx, _BOUNDS[torch.bfloat16][1], seed)
    with pytest.raises(ValueError, match="q and k must share shape"):
        l2norm_pair_triton(q, k[:, :5])
