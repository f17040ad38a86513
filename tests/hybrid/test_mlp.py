"""SwiGLU's fused activation + down projection against its autograd reference: float64 values and every gradient
on fresh random inputs, bf16 under autocast, and only gate_up's output kept for the backward."""
from __future__ import annotations

import pytest
import torch

from hybrid.mlp import SwiGLU, swiglu_down, swiglu_down_reference


def error_ratio(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()).item()


@pytest.mark.parametrize("shape", [(1, 1), (2, 37), (3, 64)])
def test_value_and_gradients_match_the_reference_in_float64(shape) -> None:
    hidden, d = 24, 10
    gate_up = torch.randn(*shape, 2 * hidden, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(d, hidden, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(*shape, d, dtype=torch.float64)
    y, ref = swiglu_down(gate_up, weight), swiglu_down_reference(gate_up, weight)
    assert error_ratio(y, ref) < 1e-13
    for g, g_ref in zip(torch.autograd.grad(y, [gate_up, weight], dy),
                        torch.autograd.grad(ref, [gate_up, weight], dy)):
        assert error_ratio(g, g_ref) < 1e-13


def test_bf16_under_autocast_stays_close_and_returns_input_dtypes() -> None:
    mlp = SwiGLU(32, 64)
    x = torch.randn(4, 9, 32, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = mlp(x)
        gate_up = mlp.gate_up(x)
        ref = swiglu_down_reference(gate_up, mlp.down.weight)
    assert y.dtype == ref.dtype == torch.bfloat16
    assert error_ratio(y.float(), ref.float()) < 1e-2
    (dx,) = torch.autograd.grad(y.float().sum(), [x])
    (dx_ref,) = torch.autograd.grad(ref.float().sum(), [x])
    assert dx.dtype == torch.float32 and error_ratio(dx, dx_ref) < 2e-2


def test_the_backward_keeps_gate_up_only() -> None:
    gate_up = torch.randn(4, 9, 2 * 64, requires_grad=True) * 1.0
    weight = torch.randn(32, 64, requires_grad=True)

    def kept_per_token(fn) -> int:
        kept = {}

        def pack(t):
            if t.dim() == 3:  # activations (B, T, .); the weight is 2-D
                kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(gate_up, weight)
        return sum(kept.values()) // (4 * 9)

    assert kept_per_token(swiglu_down) == 2 * 64 * 4  # gate_up, float32
    assert kept_per_token(swiglu_down_reference) > kept_per_token(swiglu_down)
