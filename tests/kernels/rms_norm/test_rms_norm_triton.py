"""The fused RMSNorm / gated RMSNorm kernels (`kernels/rms_norm/triton.py`) against the eager definition
(`kernels/rms_norm/naive.py`) in float64: y, dx, dgate and dw.

Inputs are drawn fresh in float64 and rounded once to the test dtype; the reference runs on the rounded values in
float64, so the bounds measure the kernel's float32 arithmetic and its roundings to the input dtype (the gated form
rounds the normed value before the gate, as the definition does; in bf16 that rounding is part of the result).
Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.rms_norm import gated_rms_norm_reference, rms_norm_reference
from tests.kernels.harness import assert_close, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.rms_norm.triton import MAX_PROGRAMS, gated_rms_norm_triton, rms_norm_triton  # noqa: E402

EPS = 1e-6
# error-ratio bounds (y, input grads, dw): float32 arithmetic, results rounded to the input dtype (bf16: half an
# ulp is 2^-8 relative, and the gated forms round twice, the normed value and the result)
_BOUNDS = {torch.float32: (1e-6, 1e-5, 1e-5), torch.bfloat16: (1e-2, 2e-2, 1e-2)}


def _draw(shape: tuple[int, ...], seed: int, gated: bool):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64) * 3
    x.view(-1, shape[-1])[0] *= 1e-4  # a row whose mean square is of the order of eps
    gate = torch.randn(*shape, generator=gen, dtype=torch.float64) * 2 if gated else None
    weight = 1 + 0.3 * torch.randn(shape[-1], generator=gen, dtype=torch.float64)
    dy = torch.randn(*shape, generator=gen, dtype=torch.float64)
    return x, gate, weight, dy


def _check(shape: tuple[int, ...], dtype: torch.dtype, act: str | None) -> None:
    seed = fresh_seed()
    x, gate, weight, dy = _draw(shape, seed, act is not None)
    x, dy = x.to(dtype).double(), dy.to(dtype).double()  # round once: both sides see the same values
    gate = gate.to(dtype).double() if gate is not None else None
    weight = weight.float().double()  # a float32 parameter, as under autocast

    args = [t.to(_DEVICE, dtype).requires_grad_() for t in (x, gate) if t is not None]
    w = weight.to(_DEVICE, torch.float32).requires_grad_()
    y = rms_norm_triton(args[0], w, EPS) if act is None else gated_rms_norm_triton(args[0], args[1], w, EPS, act)
    assert y.dtype == dtype and y.shape == x.shape, seed_note(seed)
    got = torch.autograd.grad(y, [*args, w], dy.to(_DEVICE, dtype))

    ref_args = [t.clone().requires_grad_() for t in (x, gate) if t is not None]
    ref_w = weight.clone().requires_grad_()
    ref_y = rms_norm_reference(ref_args[0], ref_w, EPS) if act is None else \
        gated_rms_norm_reference(ref_args[0], ref_args[1], ref_w, EPS, act)
    ref = torch.autograd.grad(ref_y, [*ref_args, ref_w], dy)

    y_bound, in_bound, w_bound = _BOUNDS[dtype]
    assert_close("y", y.detach().cpu(), ref_y.detach(), y_bound, seed)
    for name, g, r in zip(("dx", "dgate"), got[:-1], ref[:-1]):
        assert g.dtype == dtype, seed_note(seed)
        assert_close(name, g.cpu(), r, in_bound, seed)
    assert got[-1].dtype == torch.float32, seed_note(seed)
    assert_close("dw", got[-1].cpu(), ref[-1], w_bound, seed)


@pytest.mark.parametrize("act", [None, "silu", "sigmoid"], ids=["plain", "silu", "sigmoid"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_rms_norm_kernel_matches_float64(dtype: torch.dtype, act: str | None) -> None:
    _check((2, 37, 3, 64), dtype, act)  # rows: 222, not a multiple of the row block


@pytest.mark.parametrize("D", [1, 24, 100, 256])
def test_rms_norm_kernel_any_width(D: int) -> None:
    # a non-power-of-two width is masked up to its block: head dims and model widths alike
    _check((3, 11, D), torch.float32, "silu" if D % 2 else None)


def test_rms_norm_backward_walks_row_blocks_past_its_program_count() -> None:
    # more row blocks than backward programs: each program sums the dw of several blocks
    _check((MAX_PROGRAMS * 16 + 5, 4), torch.float32, "sigmoid")


def test_rms_norm_kernel_empty_input_and_shape_errors() -> None:
    x = torch.zeros(0, 5, 8, device=_DEVICE, requires_grad=True)
    w = torch.ones(8, device=_DEVICE, requires_grad=True)
    y = rms_norm_triton(x, w, EPS)
    dx, dw = torch.autograd.grad(y.sum(), [x, w])
    assert y.shape == x.shape and dx.shape == x.shape and torch.equal(dw, torch.zeros(8, device=_DEVICE))
    with pytest.raises(ValueError, match="gate shape"):
        gated_rms_norm_triton(torch.ones(2, 8, device=_DEVICE), torch.ones(2, 4, device=_DEVICE), w, EPS, "silu")
