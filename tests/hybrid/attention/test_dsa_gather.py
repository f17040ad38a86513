"""dsa's gathered top-k attention against its references, in float64 with fresh random inputs: topk_attention against
softmax attention by hand, and the `gather` mixer against the `dense` one (forward, every gradient, packed documents,
selection in blocks). Error ratio = RMSE / RMS of the reference."""
from __future__ import annotations

import pytest
import torch

import hybrid.attention.dsa as dsa
from hybrid.attention.topk_attend import topk_attention
from hybrid.config import AttentionConfig, ModelConfig

D_MODEL, H, H_KV, D = 32, 4, 2, 8


def error_ratio(got: torch.Tensor, ref: torch.Tensor) -> float:
    return ((got - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()).item()


def naive(q, k, v, indices, valid, bias):
    """Dense softmax over the selected keys by hand: the selection as a (B, T, S) mask, the bias scattered into it."""
    B, T, K = indices.shape
    S = k.shape[2]
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    full_bias = torch.zeros(B, T, S, dtype=q.dtype).scatter(-1, indices, bias)
    mask = torch.zeros(B, T, S, dtype=torch.bool).scatter(-1, indices, valid)
    logits = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5 + full_bias[:, None]
    return logits.masked_fill(~mask[:, None], float("-inf")).softmax(-1) @ v


@pytest.mark.parametrize("B,T,S,K", [(2, 19, 19, 5), (1, 7, 33, 6), (3, 1, 40, 16)])
def test_topk_attention_matches_dense_softmax_over_the_selection(B, T, S, K):
    g = torch.Generator().manual_seed(torch.seed() % 2**31)
    q = torch.randn(B, H, T, D, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(B, H_KV, S, D, dtype=torch.float64, generator=g, requires_grad=True)
    v = torch.randn(B, H_KV, S, D, dtype=torch.float64, generator=g, requires_grad=True)
    indices = torch.stack([torch.randperm(S, generator=g)[:K] for _ in range(B * T)]).view(B, T, K)
    valid = torch.rand(B, T, K, generator=g) > 0.3
    valid[..., 0] = True  # every query keeps at least one key
    bias = torch.randn(B, T, K, dtype=torch.float64, generator=g, requires_grad=True)
    out = topk_attention(q, k, v, indices, valid, bias)
    ref = naive(q, k, v, indices, valid, bias)
    assert error_ratio(out, ref) < 1e-12
    grad_out = torch.randn_like(ref)
    got = torch.autograd.grad(out, (q, k, v, bias), grad_out)
    want = torch.autograd.grad(ref, (q, k, v, bias), grad_out)
    for name, a, b in zip(["q", "k", "v", "bias"], got, want):
        b = torch.where(valid, b, 0.0) if name == "bias" else b  # an invalid slot's bias never reaches the output
        assert error_ratio(a, b) < 1e-12, name


def make(impl: str, topk: int = 5, seed: int = 0) -> torch.nn.Module:
    cfg = ModelConfig(d_model=D_MODEL, n_heads=H, head_dim=D, init_std=0.2, attention=AttentionConfig(
        type="dsa", num_kv_heads=H_KV, topk=topk, index_heads=2, index_head_dim=8, sparse_impl=impl))
    torch.manual_seed(seed)
    return dsa.DeepSeekSparseAttention(cfg, layer_idx=0).double()


def grads_of(m, x, cu_seqlens, grad_out):
    x = x.clone().requires_grad_()
    y, _ = m(x, cu_seqlens=cu_seqlens)
    params = [p for _, p in sorted(m.named_parameters())]
    return y, torch.autograd.grad(y, [x, *params], grad_out)


@pytest.mark.parametrize("B,T,topk,cu", [(2, 29, 5, None), (1, 37, 4, [0, 9, 10, 30, 37]), (2, 11, 32, None)])
def test_gather_matches_dense_forward_and_every_gradient(B, T, topk, cu):
    dense, gather = make("dense", topk), make("gather", topk)
    gather.load_state_dict(dense.state_dict())
    x = torch.randn(B, T, D_MODEL, dtype=torch.float64)
    cu_seqlens = torch.tensor(cu) if cu else None
    grad_out = torch.randn(B, T, D_MODEL, dtype=torch.float64)
    y_ref, g_ref = grads_of(dense, x, cu_seqlens, grad_out)
    y, g = grads_of(gather, x, cu_seqlens, grad_out)
    assert error_ratio(y, y_ref) < 1e-12
    names = ["x"] + [n for n, _ in sorted(dense.named_parameters())]
    for name, a, b in zip(names, g, g_ref):
        assert b.abs().sum() > 0, name  # every parameter, the indexer's included, gets a gradient
        assert error_ratio(a, b) < 1e-12, name


def test_selection_in_blocks_of_queries_is_the_selection_at_once(monkeypatch):
    m = make("gather")
    x = torch.randn(2, 23, D_MODEL, dtype=torch.float64)
    y_once, _ = m(x)
    monkeypatch.setattr(dsa, "SELECT_BLOCK", 6)  # 23 queries in blocks of 6, 6, 6, 5
    y_blocks, _ = m(x)
    assert torch.equal(y_blocks, y_once)


def test_unknown_sparse_impl_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"attention.sparse_impl='gathr'; valid: dense, gather"):
        make("gathr")
