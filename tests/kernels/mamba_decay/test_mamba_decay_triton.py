"""The fused Mamba decay kernel (`kernels/mamba_decay/triton.py`) against the definition
(`kernels/mamba_decay/naive.py`) in float64: g and the gradients of a, A_log and dt_bias, per key channel (kda) and
per head (gated_deltanet), with rows and columns not multiples of the tile, a strided a, and z far past softplus's
bends in both directions.

Inputs are drawn fresh in float64 and rounded once to the test dtype; the reference runs on the rounded values.
Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.mamba_decay import mamba_decay_reference
from tests.kernels.harness import assert_close, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.mamba_decay.triton import BC, BR, mamba_decay_triton  # noqa: E402

_BOUNDS = {torch.float32: 1e-6, torch.bfloat16: 1e-6}  # the kernel computes in float32 on the rounded input


def _check(lead: tuple[int, ...], H: int, K: int | None, dtype: torch.dtype, spread: float = 2.0,
           sliced: bool = False) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    tail = (H,) if K is None else (H, K)
    a = (torch.randn(*lead, *tail, generator=gen, dtype=torch.float64) * spread).to(dtype).double()
    A_log = torch.empty(H, dtype=torch.float64).uniform_(0.0, 2.8, generator=gen).float().double()
    dt_bias = (torch.randn(*tail[-2:] if K else tail, generator=gen, dtype=torch.float64) - 4).float().double()
    A_shape = (H,) if K is None else (H, 1)
    dg = torch.randn(*lead, *tail, generator=gen, dtype=torch.float64)

    at = a.to(_DEVICE, dtype)
    if sliced:  # a slice of a joint projection's output, as gated_deltanet's a
        at = torch.cat([at, torch.zeros(*lead, 3, dtype=dtype, device=_DEVICE)], -1)[..., :H]
    at.requires_grad_()
    At = A_log.float().view(A_shape).to(_DEVICE).requires_grad_()
    dtt = dt_bias.float().to(_DEVICE).requires_grad_()
    g = mamba_decay_triton(at, At, dtt)
    assert g.dtype == torch.float32 and g.shape == a.shape, seed_note(seed)
    da, dA, ddt = torch.autograd.grad(g, [at, At, dtt], dg.float().to(_DEVICE))
    assert da.dtype == dtype and dA.shape == A_shape and ddt.shape == dt_bias.shape, seed_note(seed)

    ar, Ar = a.clone().requires_grad_(), A_log.view(A_shape).clone().requires_grad_()
    dr = dt_bias.clone().requires_grad_()
    ref = mamba_decay_reference(ar, Ar, dr)
    ref_da, ref_dA, ref_ddt = torch.autograd.grad(ref, [ar, Ar, dr], dg)
    bound = _BOUNDS[dtype]
    assert_close("g", g.detach().cpu().double(), ref.detach(), bound, seed)
    assert_close("da", da.cpu().double(), ref_da, 1e-2 if dtype == torch.bfloat16 else bound, seed)  # da in bf16
    assert_close("dA_log", dA.cpu().double(), ref_dA, 1e-5, seed)
    assert_close("ddt_bias", ddt.cpu().double(), ref_ddt, 1e-5, seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_per_channel_decay_matches_the_definition(dtype: torch.dtype) -> None:
    _check((2, BR + 5), 3, BC // 2 + 7, dtype)  # kda: (B, T, H, K), H * K past one column tile


def test_per_head_decay_of_a_strided_projection_matches_the_definition() -> None:
    _check((3, 2 * BR + 1), 5, None, torch.float32, sliced=True)  # gated_deltanet: (B, T, H)


def test_softplus_stays_accurate_far_past_its_bends() -> None:
    _check((1, 40), 2, 16, torch.float32, spread=30.0)  # z from about -100 to +90


def test_malformed_parameters_are_a_one_line_error() -> None:
    a = torch.zeros(1, 4, 2, 8, device=_DEVICE)
    with pytest.raises(ValueError, match="valid: a"):
        mamba_decay_triton(a, torch.zeros(2, 1, device=_DEVICE), torch.zeros(2, 7, device=_DEVICE))
