"""RMSNorm and GatedRMSNorm: their autograd Functions equal the plain forms (forward bitwise, gradients to float32
rounding), and keep only the inputs and the per-row 1/rms for the backward."""
from __future__ import annotations

import pytest
import torch

from hybrid.norm import GatedRMSNorm, RMSNorm, gated_rms_norm_reference, rms_norm_reference
from tests.kernels.harness import error_ratio


def _run(fn, *inputs):
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*leaves)
    out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(7)).to(out.dtype))
    return out.detach(), [t.grad for t in leaves]


def _inputs(dtype, D=24):
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(3, 5, D, generator=gen) * 2).to(dtype)
    gate = torch.randn(3, 5, D, generator=gen).to(dtype)
    weight = 1 + 0.3 * torch.randn(D, generator=gen)  # float32 parameter, as under autocast
    return x, gate, weight


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("act", [None, "silu", "sigmoid"])
def test_functions_equal_the_plain_forms(dtype, act):
    x, gate, weight = _inputs(dtype)
    if act is None:
        norm = RMSNorm(x.shape[-1], eps=1e-6)
        got = _run(lambda x_, w_: torch.func.functional_call(norm, {"weight": w_}, (x_,)), x, weight)
        ref = _run(lambda x_, w_: rms_norm_reference(x_, w_, 1e-6), x, weight)
    else:
        norm = GatedRMSNorm(x.shape[-1], eps=1e-6, act=act)
        got = _run(lambda x_, g_, w_: torch.func.functional_call(norm, {"weight": w_}, (x_, g_)), x, gate, weight)
        ref = _run(lambda x_, g_, w_: gated_rms_norm_reference(x_, g_, w_, 1e-6, act), x, gate, weight)
    assert got[0].dtype == dtype and torch.equal(got[0], ref[0])  # the forward is the same arithmetic
    # gradients: float32 arithmetic in both, summed in another order; bf16 also rounds where the plain form does
    bound = 1e-2 if dtype == torch.bfloat16 else 1e-6
    for g, r in zip(got[1], ref[1]):
        assert g.dtype == r.dtype and error_ratio(g, r) <= bound


def _saved_bytes(fn, *inputs) -> int:
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*leaves)
    return sum(seen.values())


def test_the_backward_keeps_the_inputs_not_float32_copies():
    x, gate, weight = _inputs(torch.bfloat16, D=256)
    rows = x.numel() // x.shape[-1]
    inputs_bytes = x.numel() * 2 + gate.numel() * 2 + weight.numel() * 4 + rows * 4  # x, gate, weight, 1/rms
    gated = GatedRMSNorm(256, act="sigmoid")
    ours = _saved_bytes(lambda x_, g_: gated(x_, g_), x, gate)
    plain = _saved_bytes(lambda x_, g_: gated_rms_norm_reference(x_, g_, gated.weight, 1e-6, "sigmoid"), x, gate)
    assert ours <= inputs_bytes < plain / 3
    norm = RMSNorm(256)
    assert _saved_bytes(lambda x_: norm(x_), x) <= inputs_bytes



@pytest.mark.parametrize("act", [None, "sigmoid"])
def test_the_triton_backend_runs_the_fused_kernel_with_the_same_result(act, monkeypatch):
    pytest.importorskip("triton")
    import kernels
    from kernels.utils.triton_support import interpreting

    if not interpreting():
        pytest.skip("needs TRITON_INTERPRET=1 (tests/conftest.py sets it)")
    import kernels.rms_norm.triton as fused

    name = "rms_norm_triton" if act is None else "gated_rms_norm_triton"
    calls, kernel = [], getattr(fused, name)
    monkeypatch.setattr(fused, name, lambda *a: calls.append(1) or kernel(*a))
    x, gate, weight = _inputs(torch.bfloat16, D=40)
    norm = RMSNorm(40) if act is None else GatedRMSNorm(40, act=act)
    norm.fused = True  # model.fused_norm=true
    inputs = (x,) if act is None else (x, gate)
    run = lambda w_, *a: torch.func.functional_call(norm, {"weight": w_}, a)  # noqa: E731
    eager = _run(run, weight, *inputs)
    assert not calls
    before = kernels.get_backend()
    kernels.set_backend("triton")
    try:
        fused_out = _run(run, weight, *inputs)
    finally:
        kernels.set_backend(before)
    assert calls, "the triton backend did not take the fused kernel"
    assert fused_out[0].dtype == torch.bfloat16 and error_ratio(fused_out[0], eager[0]) <= 1e-2
    for g, r in zip(fused_out[1], eager[1]):
        assert g.dtype == r.dtype and error_ratio(g, r) <= 2e-2
