"""project_together: several bias-free projections as one matmul, equal to the separate layers in value and gradient,
and keeping one copy of the input for the backward under autocast."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hybrid.joint_projection import project_together


def layers(d_in: int, outs: list[int]) -> list[nn.Linear]:
    return [nn.Linear(d_in, n, bias=False).double() for n in outs]


def test_outputs_and_every_gradient_equal_the_separate_layers_in_float64() -> None:
    torch.manual_seed(0)
    lins = layers(24, [16, 16, 8, 3])
    x = torch.randn(2, 7, 24, dtype=torch.float64, requires_grad=True)
    joint = project_together(x, *lins)
    separate = [m(x) for m in lins]
    weights = [torch.randn_like(y) for y in separate]  # a loss that reads every output differently
    grads_joint = torch.autograd.grad(sum((y * w).sum() for y, w in zip(joint, weights)),
                                      [x, *(m.weight for m in lins)])
    grads_separate = torch.autograd.grad(sum((y * w).sum() for y, w in zip(separate, weights)),
                                         [x, *(m.weight for m in lins)])
    for a, b in zip(joint, separate):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads_joint, grads_separate):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_under_autocast_the_input_is_kept_once() -> None:
    lins = [nn.Linear(32, 32, bias=False) for _ in range(4)]
    x = torch.randn(4, 32, requires_grad=True) * 1.0  # not a leaf, as a norm's output (autocast caches leaves' casts)
    params = {p.untyped_storage().data_ptr() for m in lins for p in m.parameters()}

    def kept_activation_copies(project) -> int:
        kept = set()

        def pack(t):
            if t.dim() == 2 and t.shape[0] == 4 and t.untyped_storage().data_ptr() not in params:
                kept.add(t.untyped_storage().data_ptr())  # (tokens, d): an activation, not a weight
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", torch.bfloat16):
            project(x)
        return len(kept)

    assert kept_activation_copies(lambda x: [m(x) for m in lins]) == 4  # each layer casts and keeps its own
    assert kept_activation_copies(lambda x: project_together(x, *lins)) == 1


def test_a_projection_with_a_bias_is_refused() -> None:
    with pytest.raises(ValueError, match="has a bias"):
        project_together(torch.randn(2, 4), nn.Linear(4, 4), nn.Linear(4, 4, bias=False))


def test_each_output_has_its_own_storage() -> None:
    """A view kept by a later op for its backward would otherwise keep every projection's output alive."""
    outs = project_together(torch.randn(3, 8), *[nn.Linear(8, n, bias=False) for n in (4, 2, 6)])
    assert all(o.is_contiguous() for o in outs)
    assert len({o.untyped_storage().data_ptr() for o in outs}) == 3
