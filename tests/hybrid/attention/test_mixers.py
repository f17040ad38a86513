"""The five full-attention mixers: decode contract, packed documents, naive references, caches, FLOP counts.

Tiny shapes (d_model 32, 4 heads, 2 kv heads, head_dim 8, T 24) in float64 so comparisons can be tight.
"""

from __future__ import annotations

import math

import pytest
import torch

import hybrid.attention  # noqa: F401  (registers the mixers)
from hybrid.attention.rope import RotaryEmbedding
from hybrid.config import AttentionConfig, ModelConfig
from hybrid.registry import ATTENTION_MIXERS

T, D_MODEL, H, H_KV, D = 24, 32, 4, 2, 8
TOL = {"atol": 1e-10, "rtol": 1e-10}

# name -> (attention.type, AttentionConfig overrides)
VARIANTS = {
    "mha": ("mha", {}),
    "gated": ("gated", {"rotary_fraction": 0.25}),
    "mla": ("mla", {}),
    "mla_nope": ("mla", {"nope": True}),
    "mla_qlora": ("mla", {"q_lora_rank": 16}),
    "swa": ("swa", {"window": 6}),
    "dsa": ("dsa", {"topk": 5}),
    "dsa_gather": ("dsa", {"topk": 5, "sparse_impl": "gather"}),
}


def make(kind: str, seed: int = 0, **overrides) -> torch.nn.Module:
    attn_type, variant_overrides = VARIANTS.get(kind, (kind, {}))
    fields = {"num_kv_heads": H_KV, "kv_lora_rank": 12, "rope_head_dim": 4, "index_heads": 2, "index_head_dim": 8}
    fields.update(variant_overrides, **overrides)
    cfg = ModelConfig(
        d_model=D_MODEL, n_heads=H, head_dim=D, init_std=0.2, attention=AttentionConfig(type=attn_type, **fields)
    )
    torch.manual_seed(seed)
    return ATTENTION_MIXERS[attn_type](cfg, layer_idx=0).double()


def inputs(B: int = 2, length: int = T, seed: int = 1) -> torch.Tensor:
    return torch.randn(B, length, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def naive_attention(q, k, v, allowed, bias=None, scale=None):
    """Softmax attention by hand: q (B, H, T, E), k/v (B, H_kv, S, *), allowed (T, S) or (B, 1, T, S) bool."""
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    logits = q @ k.transpose(-1, -2) * (scale if scale is not None else q.shape[-1] ** -0.5)
    if bias is not None:
        logits = logits + bias
    return logits.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def qkv_of(m, x):
    """The rotated q, k and v an mha/swa/dsa mixer computes for a training forward."""
    B, L, _ = x.shape
    pos = torch.arange(L)
    q = m.rope(m.q_proj(x).view(B, L, H, D), pos).transpose(1, 2)
    k = m.rope(m.k_proj(x).view(B, L, H_KV, D), pos).transpose(1, 2)
    v = m.v_proj(x).view(B, L, H_KV, D).transpose(1, 2)
    return q, k, v


def out_of(m, o):
    B, _, L, _ = o.shape
    return m.o_proj(o.transpose(1, 2).reshape(B, L, H * D))


def causal(length: int, window: int | None = None) -> torch.Tensor:
    i, j = torch.arange(length)[:, None], torch.arange(length)[None, :]
    ok = j <= i
    return ok & (i - j < window) if window is not None else ok


# --- every mixer: the contract -------------------------------------------------------------------------------------


def test_all_types_registered():
    assert {"mha", "gated", "mla", "swa", "dsa"} <= set(ATTENTION_MIXERS)


@pytest.mark.parametrize("kind", VARIANTS)
def test_forward_backward_finite_grads(kind):
    m = make(kind)
    x = inputs().requires_grad_()
    y, cache = m(x)
    assert y.shape == x.shape and cache is None
    y.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} gets no gradient"  # dsa: the indexer learns through its bias


@pytest.mark.parametrize("kind", VARIANTS)
def test_token_by_token_decode_matches_forward(kind):
    m = make(kind)
    x = inputs()
    y_full, _ = m(x)
    cache = m.new_cache()
    steps = []
    for t in range(T):
        y_t, cache = m(x[:, t : t + 1], cache=cache)
        steps.append(y_t)
    torch.testing.assert_close(torch.cat(steps, dim=1), y_full, **TOL)
    assert cache.length == T


@pytest.mark.parametrize("kind", VARIANTS)
def test_prefill_then_decode_matches_forward(kind):
    m = make(kind)
    x = inputs()
    y_full, _ = m(x)
    cache = m.new_cache()
    # a prefill longer than the swa window, then a multi-token chunk on a non-empty cache, then single tokens
    pieces = [(0, 10), (10, 15)] + [(t, t + 1) for t in range(15, T)]
    outs = []
    for a, b in pieces:
        y, cache = m(x[:, a:b], cache=cache)
        outs.append(y)
    torch.testing.assert_close(torch.cat(outs, dim=1), y_full, **TOL)


@pytest.mark.parametrize("kind", VARIANTS)
def test_packed_documents_match_separate_runs(kind):
    m = make(kind)
    lengths = [7, 10, 7]
    x = inputs(B=1)
    cu = torch.tensor([0, 7, 17, 24])
    y_packed, cache = m(x, cu_seqlens=cu)
    assert cache is None
    y_docs = torch.cat([m(x[:, a:b])[0] for a, b in zip(cu[:-1].tolist(), cu[1:].tolist())], dim=1)
    assert sum(lengths) == T
    torch.testing.assert_close(y_packed, y_docs, **TOL)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m(inputs(B=2), cu_seqlens=torch.tensor([0, 10, T])),  # packing needs B == 1
        lambda m: m(inputs(B=1), cu_seqlens=torch.tensor([0, 10, T - 1])),  # must end at T
        lambda m: m(inputs(B=1), cache=m.new_cache(), cu_seqlens=torch.tensor([0, T])),  # not with a cache
    ],
)
def test_bad_packing_raises(call):
    with pytest.raises(ValueError, match="cu_seqlens"):
        call(make("mha"))


@pytest.mark.parametrize(
    "kind, overrides, match",
    [
        ("mha", {"num_kv_heads": 3}, "num_kv_heads=3"),
        ("swa", {"window": 0}, "window=0"),
        ("dsa", {"topk": 0}, "topk=0"),
        ("gated", {"rotary_fraction": 1.5}, "rotary_fraction=1.5"),
        ("mla", {"kv_lora_rank": 0}, "kv_lora_rank=0"),
    ],
)
def test_bad_config_raises(kind, overrides, match):
    with pytest.raises(ValueError, match=match):
        make(kind, **overrides)


# --- against naive references -----------------------------------------------------------------------------------------


def test_mha_matches_naive_causal_reference():
    m = make("mha")
    x = inputs()
    q, k, v = qkv_of(m, x)
    torch.testing.assert_close(m(x)[0], out_of(m, naive_attention(q, k, v, causal(T))), **TOL)


def test_swa_matches_naive_sliding_window_reference():
    m = make("swa")
    x = inputs()
    q, k, v = qkv_of(m, x)
    y_ref = out_of(m, naive_attention(q, k, v, causal(T, window=6)))
    torch.testing.assert_close(m(x)[0], y_ref, **TOL)
    assert not torch.allclose(m(x)[0], out_of(m, naive_attention(q, k, v, causal(T))))  # the window matters


def test_gated_matches_naive_reference():
    m = make("gated")
    x = inputs()
    B, pos = x.shape[0], torch.arange(T)
    assert m.rope.rotary_dim == 2  # a quarter of head_dim 8
    q, gate = m.q_proj(x).view(B, T, H, 2 * D).split(D, dim=-1)
    q = m.rope(m.q_norm(q), pos).transpose(1, 2)
    k = m.rope(m.k_norm(m.k_proj(x).view(B, T, H_KV, D)), pos).transpose(1, 2)
    v = m.v_proj(x).view(B, T, H_KV, D).transpose(1, 2)
    o = naive_attention(q, k, v, causal(T)).transpose(1, 2) * torch.sigmoid(gate)
    torch.testing.assert_close(m(x)[0], m.o_proj(o.reshape(B, T, H * D)), **TOL)


def test_swa_cache_stays_bounded():
    m = make("swa")  # window 6: a query sees itself and 5 past tokens
    x = inputs(length=40)
    cache = m.new_cache()
    _, cache = m(x[:, :20], cache=cache)  # a prefill longer than the window
    assert cache.stored == 5 and cache.length == 20
    for t in range(20, 40):
        _, cache = m(x[:, t : t + 1], cache=cache)
        assert cache.stored == 5
    assert cache.k.shape == (2, H_KV, 5, D) and cache.length == 40
    assert cache.k.untyped_storage().nbytes() == cache.k.numel() * cache.k.element_size()  # no hidden full copy


# --- dsa --------------------------------------------------------------------------------------------------------------


def test_dsa_with_topk_covering_everything_and_zero_bias_is_dense_attention():
    m = make("dsa", topk=T)
    torch.nn.init.zeros_(m.indexer.w_proj.weight)  # indexer score, hence the logit bias, is 0
    x = inputs()
    q, k, v = qkv_of(m, x)
    torch.testing.assert_close(m(x)[0], out_of(m, naive_attention(q, k, v, causal(T))), **TOL)


def test_dsa_with_topk_covering_everything_is_dense_attention_plus_indexer_bias():
    m = make("dsa", topk=T + 3)
    x = inputs()
    pos = torch.arange(T)
    q, k, v = qkv_of(m, x)
    iq, iw = m.indexer.queries(x, pos)
    bias = m.indexer.scores(iq, iw, m.indexer.keys(x, pos)).unsqueeze(1)  # (B, 1, T, T)
    assert bias[..., causal(T)].abs().max() > 1e-3  # the bias is not trivially zero here
    torch.testing.assert_close(m(x)[0], out_of(m, naive_attention(q, k, v, causal(T), bias=bias)), **TOL)


def test_dsa_each_query_uses_exactly_min_topk_keys():
    topk = 5
    m = make("dsa", topk=topk)
    x = inputs(B=1)
    chosen = m.selected_keys(x)[0]  # (T, T)
    counts = chosen.sum(-1)
    assert counts.tolist() == [min(topk, t + 1) for t in range(T)]
    assert chosen.diagonal().all() and not chosen.triu(1).any()  # itself always, never the future
    # The output of query t depends on exactly the inputs it selected (its gradient vanishes elsewhere).
    x.requires_grad_()
    y, _ = m(x)
    for t in range(T):
        (grad,) = torch.autograd.grad(y[0, t].sum(), x, retain_graph=True)
        assert torch.equal(grad[0].abs().sum(-1) > 0, chosen[t]), t


def test_dsa_packed_selection_stays_in_document():
    m = make("dsa")
    cu = torch.tensor([0, 7, 17, 24])
    chosen = m.selected_keys(inputs(B=1), cu_seqlens=cu)[0]
    doc = torch.repeat_interleave(torch.arange(3), torch.tensor([7, 10, 7]))
    assert not (chosen & (doc[:, None] != doc[None, :])).any()
    start = torch.tensor([0, 7, 17]).repeat_interleave(torch.tensor([7, 10, 7]))
    assert chosen.sum(-1).tolist() == [min(5, t - s + 1) for t, s in enumerate(start.tolist())]


# --- mla --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, rope_dim", [("mla", 4), ("mla_nope", 0)])
def test_mla_cache_holds_the_latent(kind, rope_dim):
    m = make(kind)
    _, cache = m(inputs(), cache=m.new_cache())
    assert cache.c_kv.shape == (2, T, 12)  # kv_lora_rank, not H * D keys and values
    assert cache.k_rope.shape == (2, T, rope_dim)  # one rope key shared by all heads
    assert not hasattr(cache, "k") and not hasattr(cache, "v")


@pytest.mark.parametrize("kind, order_matters", [("mla", True), ("mla_nope", False)])
def test_mla_nope_has_no_positional_encoding(kind, order_matters):
    m = make(kind)
    x = inputs()
    shuffled = torch.cat([x[:, torch.randperm(T - 1, generator=torch.Generator().manual_seed(0))], x[:, -1:]], dim=1)
    last, last_shuffled = m(x)[0][:, -1], m(shuffled)[0][:, -1]
    # without positions, the last query sees the same set of keys in another order: same output
    assert torch.allclose(last, last_shuffled, **TOL) != order_matters


# --- shared pieces ----------------------------------------------------------------------------------------------------


def test_rope_depends_only_on_relative_position_and_spares_unrotated_dims():
    rope = RotaryEmbedding(head_dim=8, rotary_fraction=0.5)
    g = torch.Generator().manual_seed(0)
    q, k = (
        torch.randn(1, 1, 1, 8, dtype=torch.float64, generator=g),
        torch.randn(1, 1, 1, 8, dtype=torch.float64, generator=g),
    )

    def score(m: int, n: int) -> torch.Tensor:
        return (rope(q, torch.tensor([m])) * rope(k, torch.tensor([n]))).sum()

    torch.testing.assert_close(score(3, 1), score(13, 11), **TOL)
    assert not torch.allclose(score(3, 1), score(3, 2))
    rotated = rope(q, torch.tensor([5]))
    torch.testing.assert_close(rotated[..., 4:], q[..., 4:], **TOL)  # only the first half rotates
    torch.testing.assert_close(rotated.norm(), q.norm(), **TOL)


def test_flops_per_token():
    L = 24
    full = 2 * 2 * H * D * (L + 1) / 2  # QK^T + AV, a causal query sees (L + 1) / 2 keys on average
    assert make("mha").flops_per_token(L) == pytest.approx(full)
    assert make("gated").flops_per_token(L) == pytest.approx(full)
    assert make("swa", window=L).flops_per_token(L) == pytest.approx(full)
    w = 6
    assert make("swa", window=w).flops_per_token(L) == pytest.approx(4 * H * D * (w * (w + 1) / 2 + (L - w) * w) / L)
    indexer = (2 * 2 * 8 + 2 * 2) * (L + 1) / 2  # 2 indexer heads of dim 8 over every past key
    assert make("dsa", topk=L).flops_per_token(L) == pytest.approx(full + indexer)
    assert make("dsa", topk=5).flops_per_token(L) < make("dsa", topk=L).flops_per_token(L)
    assert make("mla").flops_per_token(L) == pytest.approx(2 * H * (L + 1) / 2 * ((D + 4) + D))
    assert math.isfinite(make("mla_nope").flops_per_token(1))


# --- packed documents in sdpa.attend ----------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [None, 5])
def test_attend_per_document_equals_the_block_diagonal_mask(window):
    from hybrid.attention.sdpa import _attend_dense, attend

    gen = torch.Generator().manual_seed(0)
    cu = torch.tensor([0, 3, 11, 12, 20, 31])  # uneven documents, one of a single token
    q, k, v = (torch.randn(1, h, 31, D, generator=gen, dtype=torch.float64, requires_grad=True)
               for h in (H, H_KV, H_KV))
    got = attend(q, k, v, window=window, cu_seqlens=cu)
    want = _attend_dense(q, k, v, window, cu, None)  # one (T, T) mask: causal, windowed, same document
    torch.testing.assert_close(got, want, **TOL)
    do = torch.randn(got.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(got, (q, k, v), do), torch.autograd.grad(want, (q, k, v), do)):
        torch.testing.assert_close(a, b, **TOL)
