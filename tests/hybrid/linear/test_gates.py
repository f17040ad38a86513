"""mamba_decay's autograd Function against its plain form: the same decay and gradients (float64 and bf16
projections, GDN's per-head and KDA's per-channel broadcasts, the softplus threshold), keeping only its inputs."""
from __future__ import annotations

import pytest
import torch

from hybrid.linear.gates import mamba_decay, mamba_decay_reference
from tests.hybrid.test_norm import _saved_bytes
from tests.kernels.harness import error_ratio

SHAPES = {"gdn": ((2, 7, 3), (3,), (3,)), "kda": ((2, 7, 3, 5), (3, 1), (3, 5))}


def _grads(fn, a, A_log, dt_bias):
    leaves = [t.detach().clone().requires_grad_() for t in (a, A_log, dt_bias)]
    g = fn(*leaves)
    g.backward(torch.randn(g.shape, generator=torch.Generator().manual_seed(3), dtype=g.dtype))
    return g.detach(), [t.grad for t in leaves]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_equals_the_plain_form(dtype, layout):
    a_shape, A_shape, dt_shape = SHAPES[layout]
    gen = torch.Generator().manual_seed(2)
    a = (torch.randn(a_shape, generator=gen) * 8).to(dtype)
    a.view(-1)[:4] = torch.tensor([25.0, 21.0, -30.0, 19.0], dtype=dtype)  # both sides of softplus's threshold
    param = torch.float64 if dtype == torch.float64 else torch.float32
    A_log = torch.rand(A_shape, generator=gen, dtype=param) * 2.7
    dt_bias = torch.randn(dt_shape, generator=gen, dtype=param) - 4
    got, ref = _grads(mamba_decay, a, A_log, dt_bias), _grads(mamba_decay_reference, a, A_log, dt_bias)
    assert got[0].dtype == param and torch.equal(got[0], ref[0])
    bound = 1e-14 if dtype == torch.float64 else 1e-6
    for name, g, r in zip(("a", "A_log", "dt_bias"), got[1], ref[1]):
        assert g.dtype == r.dtype and g.shape == r.shape, name
        assert error_ratio(g, r) <= (1e-2 if dtype == torch.bfloat16 and name == "a" else bound), name


def test_the_backward_keeps_the_projection_not_float32_copies():
    a = torch.randn(4, 64, 8, 32, dtype=torch.bfloat16)
    A_log, dt_bias = torch.rand(8, 1), torch.randn(8, 32)
    ours = _saved_bytes(mamba_decay, a, A_log, dt_bias)
    plain = _saved_bytes(mamba_decay_reference, a, A_log, dt_bias)
    assert ours <= a.numel() * 2 + (A_log.numel() + dt_bias.numel()) * 4 < plain / 3
