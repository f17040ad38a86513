"""The linear mixers against the decode contract of hybrid/registry.py: gradients, cached decode == full forward,
packed documents == separate documents, and each variant's defining gates (beta range, lightning's fixed slopes)."""

from __future__ import annotations

import itertools

import pytest
import torch

import hybrid.linear  # noqa: F401  (registers the variants)
from hybrid.config import ModelConfig
from hybrid.linear.cache import LinearCache
from hybrid.linear.lightning import LightningAttention, alibi_slopes
from hybrid.registry import LINEAR_MIXERS

VARIANTS = ["linear", "lightning"]
DELTA_VARIANTS: list[str] = []
# Every variant, and the delta-rule ones again with beta in (0, 2).
CASES = [(v, False) for v in VARIANTS] + [(v, True) for v in DELTA_VARIANTS]
D_MODEL, T = 32, 20


def make_cfg(variant: str, allow_neg_eigval: bool = False, **linear) -> ModelConfig:
    cfg = ModelConfig(d_model=D_MODEL, n_heads=2, head_dim=16, n_layers=4)
    cfg.linear.variant = variant
    cfg.linear.allow_neg_eigval = allow_neg_eigval
    for key, value in linear.items():
        setattr(cfg.linear, key, value)
    return cfg


def make_mixer(variant: str, allow_neg_eigval: bool = False, layer_idx: int = 1, **linear) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(make_cfg(variant, allow_neg_eigval, **linear), layer_idx).double()


def rand_x(B: int, n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(B, n, D_MODEL, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def build(cfg: ModelConfig, layer_idx: int) -> torch.nn.Module:
    # The registry lookup build_linear does, without importing hybrid.attention (another package's concern).
    return LINEAR_MIXERS[cfg.linear.variant](cfg, layer_idx)


def test_every_variant_is_registered():
    assert set(VARIANTS + DELTA_VARIANTS) <= set(LINEAR_MIXERS)


@pytest.mark.parametrize("variant,neg", CASES)
def test_backward_gives_finite_nonzero_grads(variant, neg):
    torch.manual_seed(0)
    mixer = build(make_cfg(variant, neg), 1)  # float32, as in training
    x = torch.randn(2, T, D_MODEL, requires_grad=True)
    y, cache = mixer(x)
    assert cache is None and y.shape == x.shape
    (y * torch.randn_like(y)).sum().backward()
    for name, p in mixer.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("variant,neg", CASES)
def test_token_by_token_decode_matches_full_forward(variant, neg):
    mixer = make_mixer(variant, neg)
    x = rand_x(2, T)
    full, _ = mixer(x)
    cache = mixer.new_cache()
    steps = [mixer(x[:, t : t + 1], cache=cache)[0] for t in range(T)]
    assert isinstance(cache, LinearCache) and cache.seen == T
    assert cache.state is not None and cache.state.dtype == torch.float32
    # The state is kept in fp32, so agreement is to fp32 precision even though the module is float64.
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant,neg", CASES)
def test_prefill_then_decode_matches_full_forward(variant, neg):
    mixer = make_mixer(variant, neg)
    x = rand_x(2, T, seed=2)
    full, _ = mixer(x)
    cache = mixer.new_cache()
    parts = [mixer(x[:, :7], cache=cache)[0], mixer(x[:, 7:12], cache=cache)[0]]  # prefill, then a chunk with state
    parts += [mixer(x[:, t : t + 1], cache=cache)[0] for t in range(12, T)]
    assert cache.seen == T
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant,neg", CASES)
def test_packed_documents_match_separate_runs(variant, neg):
    mixer = make_mixer(variant, neg)
    bounds = [0, 5, 6, 13, T]  # includes a 1-token document, shorter than the conv kernel
    x = rand_x(1, T, seed=3)
    packed, _ = mixer(x, cu_seqlens=torch.tensor(bounds, dtype=torch.int32))
    separate = torch.cat([mixer(x[:, a:b])[0] for a, b in itertools.pairwise(bounds)], 1)
    torch.testing.assert_close(packed, separate, atol=1e-10, rtol=1e-10)
    # Without the boundaries the later documents do see earlier ones: the comparison above can fail.
    unpacked, _ = mixer(x)
    assert (unpacked[:, 5:] - separate[:, 5:]).abs().max() > 1e-4


@pytest.mark.parametrize("variant", VARIANTS + DELTA_VARIANTS)
def test_cache_with_cu_seqlens_is_rejected(variant):
    mixer = make_mixer(variant)
    with pytest.raises(ValueError, match="cu_seqlens"):
        mixer(rand_x(1, 4), cache=mixer.new_cache(), cu_seqlens=torch.tensor([0, 2, 4]))


@pytest.mark.parametrize("variant", VARIANTS + DELTA_VARIANTS)
def test_flops_per_token_positive_and_saturates_at_the_chunk(variant):
    mixer = make_mixer(variant, chunk_size=16)
    assert 0 < mixer.flops_per_token(1) < mixer.flops_per_token(16)
    assert mixer.flops_per_token(16) == mixer.flops_per_token(4096)


def test_alibi_slopes_power_of_two_and_not():
    assert alibi_slopes(2) == [2**-4, 2**-8]
    assert alibi_slopes(4) == [2**-2, 2**-4, 2**-6, 2**-8]
    # 6 heads: the 4-head slopes, then every other slope of the 8-head set (2^-1, 2^-3).
    assert alibi_slopes(6) == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]


def test_lightning_slopes_scale_with_depth_and_are_fixed():
    cfg = make_cfg("lightning")
    first, mid, last = (LightningAttention(cfg, i) for i in (0, 2, cfg.n_layers - 1))
    torch.testing.assert_close(first.slopes, torch.tensor([2**-4, 2**-8]) * (1 + 1e-5))
    torch.testing.assert_close(mid.slopes, torch.tensor([2**-4, 2**-8]) * (1 - 2 / 3 + 1e-5))
    torch.testing.assert_close(last.slopes, torch.tensor([2**-4, 2**-8]) * 1e-5)
    assert not first.slopes.requires_grad
    assert all(p is not first.slopes for p in first.parameters())
    assert "slopes" not in first.state_dict()  # derived from the config, not a checkpointed weight
    # A training step leaves them untouched.
    before = first.slopes.clone()
    opt = torch.optim.SGD(first.parameters(), lr=1.0)
    first(torch.randn(1, 6, D_MODEL))[0].sum().backward()
    opt.step()
    assert torch.equal(first.slopes, before)
