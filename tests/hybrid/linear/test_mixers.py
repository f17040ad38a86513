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
from hybrid.linear.short_conv import ShortConv
from hybrid.registry import LINEAR_MIXERS

DELTA_VARIANTS = ["deltanet", "gated_deltanet", "kda"]
VARIANTS = ["linear", "lightning", *DELTA_VARIANTS]
# Every variant, and the delta-rule ones again with beta in (0, 2).
CASES = [(v, False) for v in VARIANTS] + [(v, True) for v in DELTA_VARIANTS]
D_MODEL, T = 32, 20


def make_cfg(variant: str, allow_neg_eigval: bool = False, **linear) -> ModelConfig:
    cfg = ModelConfig(d_model=D_MODEL, n_heads=2, head_dim=16, n_layers=4)
    cfg.linear.variant = variant
    cfg.linear.allow_neg_eigval = allow_neg_eigval
    cfg.linear.chunk_size = 8  # T = 20 then spans several chunks, partial last one included
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
    assert set(VARIANTS) <= set(LINEAR_MIXERS)
    cfg = make_cfg("deltanet")
    cfg.linear.expand_v = 0.3  # head_dim 16 * 0.3 is not an integer value dim
    with pytest.raises(ValueError, match="expand_v"):
        build(cfg, 0)


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
    assert cache.state is not None and cache.state.dtype == torch.float64  # fp64 module: fp64 state
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("variant,neg", CASES)
def test_prefill_then_decode_matches_full_forward(variant, neg):
    mixer = make_mixer(variant, neg)
    x = rand_x(2, T, seed=2)
    full, _ = mixer(x)
    cache = mixer.new_cache()
    parts = [mixer(x[:, :7], cache=cache)[0], mixer(x[:, 7:12], cache=cache)[0]]  # prefill, then a chunk with state
    parts += [mixer(x[:, t : t + 1], cache=cache)[0] for t in range(12, T)]
    assert cache.seen == T
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_cache_keeps_an_fp32_state_and_matches(variant):
    torch.manual_seed(0)
    mixer = build(make_cfg(variant), 1)
    x = rand_x(2, 9, seed=4).float()
    full, _ = mixer(x)
    cache = mixer.new_cache()
    parts = [mixer(x[:, :5], cache=cache)[0]] + [mixer(x[:, t : t + 1], cache=cache)[0] for t in range(5, 9)]
    assert cache.state.dtype == torch.float32
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)


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


@pytest.mark.parametrize("variant", VARIANTS)
def test_cache_with_cu_seqlens_is_rejected(variant):
    mixer = make_mixer(variant)
    with pytest.raises(ValueError, match="cu_seqlens"):
        mixer(rand_x(1, 4), cache=mixer.new_cache(), cu_seqlens=torch.tensor([0, 2, 4]))


@pytest.mark.parametrize("variant", VARIANTS)
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


@pytest.mark.parametrize("variant", DELTA_VARIANTS)
def test_beta_range_follows_allow_neg_eigval(variant):
    x = 4 * rand_x(2, T, seed=5)  # wide enough logits to push beta past 1 when allowed
    plain, neg = make_mixer(variant, False), make_mixer(variant, True)  # same seed: same weights
    b_plain, b_neg = plain.compute_beta(x), neg.compute_beta(x)
    assert b_plain.shape == (2, T, 2)
    assert (b_plain > 0).all() and (b_plain < 1).all()
    assert (b_neg > 0).all() and (b_neg < 2).all() and (b_neg > 1).any()
    torch.testing.assert_close(b_neg, 2 * b_plain)
    # And the forward pass uses it: same weights, different outputs.
    assert (plain(x)[0] - neg(x)[0]).abs().max() > 1e-4


@pytest.mark.parametrize("variant", ["gated_deltanet", "kda"])
def test_decay_init_and_no_weight_decay_marks(variant):
    torch.manual_seed(0)
    cfg = make_cfg(variant)
    cfg.n_heads = 64  # enough heads (and KDA channels) to see the init ranges
    mixer = build(cfg, 0)
    for name in ("A_log", "dt_bias"):
        assert getattr(getattr(mixer, name), "_no_weight_decay", False), name
    A = mixer.A_log.exp()
    assert A.shape == (64,) and (A >= 1).all() and (A <= 16).all() and A.std() > 1
    dt = torch.nn.functional.softplus(mixer.dt_bias)
    assert (dt >= 1e-3 * 0.999).all() and (dt <= 1e-1 * 1.001).all()
    g = mixer.compute_decay(torch.randn(1, 5, D_MODEL))
    per_channel = (1, 5, 64, 16) if variant == "kda" else (1, 5, 64)
    assert g.shape == per_channel and g.dtype == torch.float32 and (g < 0).all()


def test_kda_decay_varies_per_channel_and_gate_rank_is_honoured():
    mixer = make_mixer("kda", gate_rank=3)
    assert mixer.f_a_proj.out_features == 3 and mixer.g_a_proj.out_features == 3
    assert make_mixer("kda").f_a_proj.out_features == 16  # default: head_dim
    g = mixer.compute_decay(rand_x(1, 4))  # (1, 4, H, K)
    assert (g.std(dim=-1) > 0).all()  # channels of one head decay at different rates


@pytest.mark.parametrize("conv_size", [0, 1, 2])
def test_short_conv_sizes_keep_the_contract(conv_size):
    mixer = make_mixer("gated_deltanet", conv_size=conv_size)
    n_conv = sum(p.numel() for n, p in mixer.named_parameters() if "conv" in n)
    assert n_conv == (0 if conv_size == 0 else (2 * 32 + 32) * conv_size)
    x = rand_x(1, 9, seed=6)
    full, _ = mixer(x)
    cache = mixer.new_cache()
    steps = torch.cat([mixer(x[:, t : t + 1], cache=cache)[0] for t in range(9)], 1)
    torch.testing.assert_close(steps, full, atol=1e-10, rtol=1e-10)
    packed, _ = mixer(x, cu_seqlens=torch.tensor([0, 4, 9]))
    torch.testing.assert_close(packed, torch.cat([mixer(x[:, :4])[0], mixer(x[:, 4:])[0]], 1), atol=1e-10, rtol=0)


def test_short_conv_restarts_at_each_document():
    torch.manual_seed(0)
    conv = ShortConv(3, 4, "q").double()
    x = rand_x(1, 10)[..., :3]
    cu = torch.tensor([0, 3, 10])
    packed = conv(x, cu_seqlens=cu)
    torch.testing.assert_close(packed, torch.cat([conv(x[:, :3]), conv(x[:, 3:])], 1), atol=1e-12, rtol=0)
    # The first token of the second document sees only itself: silu(w_last * x).
    torch.testing.assert_close(packed[0, 3], torch.nn.functional.silu(conv.weight[:, 0, -1] * x[0, 3]))
    assert (conv(x)[0, 3] - packed[0, 3]).abs().max() > 1e-6  # unpacked, it does see the first document
