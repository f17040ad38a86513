"""The fused SwiGLU activation kernels (`kernels/swiglu/triton.py`) against the definition (`kernels/swiglu/naive.py`)
in float64: h forward, and h and d gate_up backward, with rows and hidden widths not multiples of the tile and a
gate_up read with a row stride wider than its width.

Inputs are drawn fresh in float64 and rounded once to the test dtype; the reference runs on the rounded values.
Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.swiglu import swiglu_reference
from tests.kernels.harness import assert_close, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.swiglu.triton import BH, BR, swiglu_backward, swiglu_forward  # noqa: E402

_BOUNDS = {torch.float32: 1e-6, torch.bfloat16: 1e-2}


def _check(lead: tuple[int, ...], hidden: int, dtype: torch.dtype, strided: bool = False) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    gu = (torch.randn(*lead, 2 * hidden, generator=gen, dtype=torch.float64) * 3).to(dtype).double()
    dh = torch.randn(*lead, hidden, generator=gen, dtype=torch.float64).to(dtype).double()
    gt = gu.to(_DEVICE, dtype)
    if strided:
        gt = torch.cat([gt, torch.zeros(*lead, 5, dtype=dtype, device=_DEVICE)], -1)[..., :2 * hidden]
    h = swiglu_forward(gt)
    dgu, h2 = swiglu_backward(gt, dh.to(_DEVICE, dtype))
    assert h.dtype == dgu.dtype == dtype and h.shape == dh.shape and dgu.shape == gu.shape, seed_note(seed)
    assert torch.equal(h, h2), seed_note(seed)  # the backward's recomputed product is the forward's

    ref_in = gu.clone().requires_grad_()
    ref = swiglu_reference(ref_in)
    (ref_dgu,) = torch.autograd.grad(ref, [ref_in], dh)
    assert_close("h", h.cpu().double(), ref.detach(), _BOUNDS[dtype], seed)
    assert_close("dgate_up", dgu.cpu().double(), ref_dgu, _BOUNDS[dtype], seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_swiglu_kernels_match_the_definition(dtype: torch.dtype) -> None:
    _check((2, BR + 3), BH + 19, dtype)


def test_swiglu_kernels_read_a_strided_gate_up() -> None:
    _check((7,), 24, torch.float32, strided=True)
