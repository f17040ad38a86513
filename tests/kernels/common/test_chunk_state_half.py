"""The chunk-state walk's 16-bit products (`kernels/common/chunk_state.py`, float16 W, Kd, Qd) against a float64
reference of the same recurrence, forward and every gradient, across input magnitudes far outside float16's range.

The float16 chunk tensors are drawn, rounded once, and the reference takes those rounded values, so the bounds
measure the walk's own arithmetic: float16 operands (tf32's mantissa) with float32 accumulation, ~3e-4 here. The
walk scales its float16 operands by a power of two from the largest input (U0, h0 forward; do, dS_out backward),
and stores the per-chunk tensors of the backward (u, S_in; do, dS_next) as it multiplied them, in float16 times
that scale: without the scale, U0 at 1e6 overflows float16 (inf) and do at 1e-7 falls below its normal range (a
few bits left), and these cases fail. The gradient products (`common/chunk_grads.py`) are checked with them. Runs
natively
on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from kernels.utils.launch import DEFAULT_LAUNCH, LaunchConfig
from tests.kernels.harness import assert_close, fresh_seed, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.common.chunk_state import state_backward, state_forward  # noqa: E402  (after the interpreter check)

_BOUND = 2e-3
_NAMES = ("dW", "dU0", "dKd", "ddecay", "dQd", "dQK", "dh0")


def _walk_reference(W, U0, Kd, decay, Qd, QK, h0, T: int):
    """The recurrence of `common/chunk_state.py`'s docstring, chunk by chunk in float64: (o (B, T, H, V), S_out)."""
    S, outs = h0, []
    for n in range(U0.shape[2]):
        u = U0[:, :, n] - W[:, :, n] @ S
        outs.append(Qd[:, :, n] @ S + QK[:, :, n] @ u)
        S = decay[:, :, n, :, None] * S + Kd[:, :, n].transpose(-1, -2) @ u
    o = torch.cat(outs, 2)[:, :, :T].transpose(1, 2)  # (B, T, H, V)
    return o, S


def _check(u_scale: float, h_scale: float, do_scale: float, ds_scale: float | None, C: int,
           with_w: bool = True, launch: LaunchConfig = DEFAULT_LAUNCH) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    B, H, NC, K, V = 1, 2, 3, 32, 40
    T = NC * C - 5  # a tail: the last chunk's padded rows are inert (zero inputs)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    pad = (torch.arange(NC * C) < T).double().view(1, 1, NC, C, 1)
    W, Kd, Qd = ((randn(B, H, NC, C, K, scale=s) * pad).half() for s in (0.05, 0.1, 0.1))  # float16, rounded once
    if not with_w:  # linear attention: u = U0 (the reference multiplies by zeros)
        W = torch.zeros_like(W)
    U0 = (randn(B, H, NC, C, V, scale=u_scale) * pad).float()
    QK = (randn(B, H, NC, C, C, scale=0.1) * pad).tril().float()
    decay = torch.rand(B, H, NC, K, generator=gen, dtype=torch.float64).float()
    h0 = randn(B, H, K, V, scale=h_scale).float()
    do = randn(B, T, H, V, scale=do_scale).float()
    dS_out = None if ds_scale is None else randn(B, H, K, V, scale=ds_scale).float()

    leaves = [x.double().requires_grad_() for x in (W, U0, Kd, decay, Qd, QK, h0)]
    o_ref, S_ref = _walk_reference(*leaves, T)
    loss = (o_ref * do.double()).sum() + (0 if dS_out is None else (S_ref * dS_out.double()).sum())
    grads_ref = torch.autograd.grad(loss, leaves)

    dev = [x.to(_DEVICE) for x in (W, U0, Kd, decay, Qd, QK, h0)]
    if not with_w:
        dev[0] = None
    o, S_out, saved = state_forward(*dev, "tf32", T, torch.float32, launch=launch)
    assert_close("o", o.cpu(), o_ref, _BOUND, seed)
    assert_close("S_out", S_out.cpu(), S_ref, _BOUND, seed)
    assert saved.S_in.dtype == torch.float16  # stored as multiplied, scaled into range
    assert saved.u.dtype == (torch.float16 if with_w else torch.float32)  # without W, u is U0 itself
    W_, _, Kd_, decay_, Qd_, QK_, _ = dev
    grads = state_backward(W_, Kd_, decay_, Qd_, QK_, saved, do.to(_DEVICE),
                           None if dS_out is None else dS_out.to(_DEVICE), "tf32", T)
    for name, got, ref in zip(_NAMES, grads, grads_ref):
        if got is None and name == "dW" and not with_w:
            continue
        assert_close(name, got.cpu().reshape(ref.shape), ref, _BOUND, seed)


@pytest.mark.parametrize("u_scale, do_scale", [(1.0, 1.0), (1e6, 1e-7), (1e-6, 1e5)])
def test_half_walk_matches_reference_at_any_magnitude(u_scale: float, do_scale: float) -> None:
    _check(u_scale, u_scale, do_scale, None, C=16)


def test_half_walk_scales_by_initial_state_and_final_state_gradient() -> None:
    # the largest inputs are h0 (1e5 > float16's 65504) and dS_out (1e-7 while do is 1e-9): the scales must see them
    _check(1.0, 1e5, 1e-9, 1e-7, C=64)


@pytest.mark.parametrize("with_w", [True, False])
def test_half_walk_output_after_the_walk(with_w: bool) -> None:
    # o by its own chunk-parallel launch (`common/chunk_output.py`), from the stored scaled S_n and u_n (or U0)
    _check(1e6, 1.0, 1e-7, None, C=16, with_w=with_w, launch=LaunchConfig(split_output=True))
