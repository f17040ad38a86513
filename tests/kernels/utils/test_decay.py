"""The log-space decayed score matrix against its definition, computed explicitly over (C, C, K)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kernels.utils.decay import causal_decayed_scores
from tests.kernels.harness import assert_close, fresh_seed, seed_note


def explicit(a, b, G):
    C = a.shape[-2]
    causal = torch.ones(C, C, dtype=torch.bool).tril()
    diff = (G[..., :, None, :] - G[..., None, :, :]).masked_fill(~causal[..., None], float("-inf"))  # (..., C, C, D)
    decayed_b = b[..., None, :, :] * diff.exp()  # (..., C, C, K)
    return (a[..., :, None, :] * decayed_b.unsqueeze(-4)).sum(-1)  # (..., P, C, C)


@pytest.mark.parametrize("per_channel", [True, False], ids=["channel", "head"])
@pytest.mark.parametrize("C", [1, 8, 16, 64])
def test_matches_explicit_definition(C: int, per_channel: bool) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    K = 6
    a = torch.randn(3, 2, C, K, generator=gen, dtype=torch.float64)  # two row sets
    b = torch.randn(3, C, K, generator=gen, dtype=torch.float64)
    g = F.logsigmoid(torch.randn(3, C, K if per_channel else 1, generator=gen, dtype=torch.float64))
    G = g.cumsum(-2)
    got = causal_decayed_scores(a, b, G)
    assert_close("scores", got, explicit(a, b, G), 1e-12, seed)
    assert (got.triu(1) == 0).all(), f"non-causal entries; {seed_note(seed)}"


@pytest.mark.parametrize("per_channel", [True, False], ids=["channel", "head"])
def test_huge_cumulative_decay_is_finite_in_float32(per_channel: bool) -> None:
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    C, K = 64, 8
    a, b = torch.randn(2, 1, C, K, generator=gen), torch.randn(2, C, K, generator=gen)
    G = (-50 * torch.rand(2, C, K if per_channel else 1, generator=gen)).cumsum(-2)  # reaches ~ -1600
    got = causal_decayed_scores(a.requires_grad_(), b, G.requires_grad_())
    (da, dG) = torch.autograd.grad(got.sum(), (a, G))
    assert torch.isfinite(got).all() and torch.isfinite(da).all() and torch.isfinite(dG).all(), seed_note(seed)
    assert_close("scores", got, explicit(a.double(), b.double(), G.double()), 1e-6, seed)
