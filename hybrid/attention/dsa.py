"""`dsa`: DeepSeek-V3.2-style sparse attention: MHA (GQA, RoPE) where each query attends only to the top-k past
tokens picked by a lightning indexer (see indexer.py), always including itself.

Training the indexer. Top-k selection has no gradient. DeepSeek-V3.2 trains the indexer with a separate KL loss
towards the dense attention distribution (a dense warm-up, then the same loss on the selected keys). Here, so that the
indexer learns from the LM loss alone with no extra loss term or training stage, its score is also added as a bias to
the attention logits of the selected keys: logits = q.k / sqrt(D) + I[t, s] on the top-k, -inf elsewhere. This is a
departure from the paper, chosen for simplicity: with topk >= T the layer is dense causal attention plus that
learned bias (exactly dense attention when the bias is zero, e.g. a zero w_proj in the indexer).

Two ways to attend the selection (attention.sparse_impl): `dense` passes it to SDPA as a float mask, so the work is
dense T x T (the reference; the FLOP count for MFU is the sparse one either way); `gather` gathers each query's top-k
keys (topk_attend.py) and scores the indexer bias on those keys only, selecting without a graph in blocks of
queries. The cache keeps K/V and the indexer keys of every past token.
"""

from __future__ import annotations

import torch
from torch import nn

from hybrid.attention.flops import attention_flops, mean_visible_keys
from hybrid.attention.heads import HeadDims
from hybrid.attention.indexer import LightningIndexer, select_topk, topk_indices
from hybrid.attention.kv_cache import SparseKVCache
from hybrid.attention.masks import allowed_keys
from hybrid.attention.positions import token_positions
from hybrid.attention.rope import RotaryEmbedding
from hybrid.attention.sdpa import sdpa
from hybrid.attention.topk_attend import topk_attention
from hybrid.weight_init import init_linear_
from hybrid.config import ModelConfig
from hybrid.registry import register_attention


SPARSE_IMPLS = ("dense", "gather")
SELECT_BLOCK = 1024
"""Queries scored per block when selecting for `gather`: bounds the indexer's (B, block, Hi, S) intermediate."""


@register_attention("dsa")
class DeepSeekSparseAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        a = cfg.attention
        if a.topk < 1:
            raise ValueError(f"attention.topk={a.topk}; valid: a positive number of keys")
        if a.sparse_impl not in SPARSE_IMPLS:
            raise ValueError(f"attention.sparse_impl={a.sparse_impl!r}; valid: {', '.join(SPARSE_IMPLS)}")
        self.layer_idx = layer_idx
        self.topk = a.topk
        self.sparse_impl = a.sparse_impl
        self.dims = HeadDims.from_config(cfg)
        H, H_kv, D = self.dims.n_heads, self.dims.n_kv_heads, self.dims.head_dim
        fraction = 0.0 if a.nope else a.rotary_fraction
        self.q_proj = nn.Linear(cfg.d_model, H * D, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, H_kv * D, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, H_kv * D, bias=False)
        self.o_proj = nn.Linear(H * D, cfg.d_model, bias=False)
        self.rope = RotaryEmbedding(D, fraction, a.rope_theta)
        index_rope = RotaryEmbedding(a.index_head_dim, fraction, a.rope_theta)
        self.indexer = LightningIndexer(cfg.d_model, a.index_heads, a.index_head_dim, index_rope, cfg.norm_eps)
        init_linear_(self, cfg.init_std)

    def new_cache(self) -> SparseKVCache:
        return SparseKVCache()

    def forward(
        self, x: torch.Tensor, cache: SparseKVCache | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, SparseKVCache | None]:
        """x: (B, T, d_model) -> (y (B, T, d_model), cache). See hybrid.registry for the contract."""
        B, T, _ = x.shape
        H, H_kv, D = self.dims.n_heads, self.dims.n_kv_heads, self.dims.head_dim
        pos = token_positions(x, cache, cu_seqlens)  # (T,)
        q = self.rope(self.q_proj(x).view(B, T, H, D), pos).transpose(1, 2)  # (B, H, T, D)
        k = self.rope(self.k_proj(x).view(B, T, H_kv, D), pos).transpose(1, 2)  # (B, H_kv, T, D)
        v = self.v_proj(x).view(B, T, H_kv, D).transpose(1, 2)  # (B, H_kv, T, D)
        iq, iw = self.indexer.queries(x, pos)  # (B, T, Hi, Di), (B, T, Hi)
        ik = self.indexer.keys(x, pos)  # (B, T, Di)
        if cache is not None:
            ik = cache.update_index(ik)  # (B, S, Di)
            k, v = cache.update(k, v)  # (B, H_kv, S, D)
        if self.sparse_impl == "gather":
            indices, valid = self._select(iq, iw, ik, cu_seqlens)  # (B, T, K) each
            o = topk_attention(q, k, v, indices, valid, self.indexer.scores_at(iq, iw, ik, indices))
        else:
            bias = self._sparse_bias(iq, iw, ik, cu_seqlens)  # (B, T, S)
            o = sdpa(q, k, v, attn_mask=bias.unsqueeze(1).to(q.dtype), enable_gqa=H != H_kv)  # (B, H, T, D)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * D)), cache

    @torch.no_grad()
    def _select(self, iq, iw, ik, cu_seqlens) -> tuple[torch.Tensor, torch.Tensor]:
        """topk_indices over every past key, SELECT_BLOCK queries at a time: (B, T, K) indices and valid slots."""
        T, S = iq.shape[1], ik.shape[1]
        allowed = allowed_keys(T, S, cu_seqlens=cu_seqlens, device=iq.device)
        parts = [topk_indices(self.indexer.scores(iq[:, t:t + SELECT_BLOCK], iw[:, t:t + SELECT_BLOCK], ik),
                              allowed[t:t + SELECT_BLOCK], self.topk, first_query=S - T + t)
                 for t in range(0, T, SELECT_BLOCK)]
        return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)

    def _sparse_bias(self, iq, iw, ik, cu_seqlens) -> torch.Tensor:
        """Indexer score on each query's top-k keys, -inf elsewhere: (B, T, S), differentiable on the top-k."""
        scores = self.indexer.scores(iq, iw, ik)  # (B, T, S)
        allowed = allowed_keys(scores.shape[1], scores.shape[2], cu_seqlens=cu_seqlens, device=scores.device)
        chosen = select_topk(scores, allowed, self.topk)
        return scores.masked_fill(~chosen, float("-inf"))

    @torch.no_grad()
    def selected_keys(self, x: torch.Tensor, cu_seqlens: torch.Tensor | None = None) -> torch.Tensor:
        """Which keys each query of a training forward attends to: bool (B, T, T). For inspection and tests."""
        pos = token_positions(x, None, cu_seqlens)
        iq, iw = self.indexer.queries(x, pos)
        return self._sparse_bias(iq, iw, self.indexer.keys(x, pos), cu_seqlens).isfinite()

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token: QK^T and AV over the top-k keys, plus the indexer scoring every past key
        (a dot product of index_head_dim and a weighted ReLU per indexer head)."""
        D, Hi, Di = self.dims.head_dim, self.indexer.n_heads, self.indexer.head_dim
        sparse = attention_flops(self.dims.n_heads, D, D, mean_visible_keys(seq_len, self.topk))
        return sparse + (2.0 * Hi * Di + 2.0 * Hi) * mean_visible_keys(seq_len)
