"""The lightning indexer of DeepSeek sparse attention (DeepSeek-V3.2) and its top-k key selection.

The indexer scores every (query t, past key s) pair with a few small heads:
    I[t, s] = sum_j w[t, j] * relu(q[t, j] . k[s])
with index_heads query heads q[t, j] of index_head_dim, one key k[s] per token shared by those heads, and per-head
weights w[t, j] computed from x. It is cheap (few heads, small dims, no softmax), so it can look at every past token
while the main attention looks only at the top-k it picks.
"""

from __future__ import annotations

import torch
from torch import nn

from hybrid.attention.rope import RotaryEmbedding
from hybrid.attention.topk_attend import gather_keys
from hybrid.norm import RMSNorm


class LightningIndexer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, head_dim: int, rope: RotaryEmbedding, eps: float = 1e-6):
        super().__init__()
        if n_heads < 1 or head_dim < 1:
            raise ValueError(f"attention.index_heads={n_heads}, index_head_dim={head_dim}; valid: positive integers")
        self.n_heads, self.head_dim = n_heads, head_dim
        self.q_proj = nn.Linear(d_model, n_heads * head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, head_dim, bias=False)
        self.w_proj = nn.Linear(d_model, n_heads, bias=False)
        self.k_norm = RMSNorm(head_dim, eps)
        self.rope = rope
        # Sum over heads of dot products of head_dim: scale both down so scores stay O(1) at init.
        self.scale = (head_dim * n_heads) ** -0.5

    def queries(self, x: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, d_model) -> indexer queries (B, T, Hi, Di) and head weights (B, T, Hi)."""
        B, T, _ = x.shape
        q = self.rope(self.q_proj(x).view(B, T, self.n_heads, self.head_dim), pos)
        return q, self.w_proj(x)

    def keys(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_model) -> indexer keys (B, T, Di), one per token."""
        k = self.k_norm(self.k_proj(x)).unsqueeze(2)  # (B, T, 1, Di): rope expects a head axis
        return self.rope(k, pos).squeeze(2)

    def scores(self, q: torch.Tensor, w: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """q: (B, T, Hi, Di), w: (B, T, Hi), k: (B, S, Di) -> I (B, T, S), before any masking."""
        per_head = torch.einsum("bthd,bsd->bths", q, k).relu()  # (B, T, Hi, S)
        return torch.einsum("bths,bth->bts", per_head, w) * self.scale

    def scores_at(self, q: torch.Tensor, w: torch.Tensor, k: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """scores(q, w, k) at the keys `indices` (B, T, K) only: (B, T, K), without the (B, T, Hi, S) of all keys."""
        picked = gather_keys(k.unsqueeze(1), indices).squeeze(1)  # (B, T, K, Di)
        per_head = torch.einsum("bthd,btkd->bthk", q, picked).relu()  # (B, T, Hi, K)
        return torch.einsum("bthk,bth->btk", per_head, w) * self.scale


def topk_indices(
    scores: torch.Tensor, allowed: torch.Tensor, topk: int, first_query: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's top-k allowed keys by score, always including itself: indices (B, Tq, K) and valid (B, Tq, K)
    with K = min(topk, S); a query with fewer than K allowed keys has its surplus slots marked invalid.

    scores: (B, Tq, S); allowed: (Tq, S) bool (causal, same document); query i is key first_query + i (default
    S - Tq: the queries are the last Tq keys).
    """
    Tq, S = allowed.shape
    first = S - Tq if first_query is None else first_query
    keys, queries = torch.arange(S, device=scores.device), torch.arange(first, first + Tq, device=scores.device)
    is_self = keys[None, :] == queries[:, None]
    ranked = scores.detach().masked_fill(~allowed, float("-inf")).masked_fill(is_self, float("inf"))
    # ReLU makes exact ties (score 0) common. A stable sort over keys in reverse order breaks them toward the most
    # recent key, identically in a full forward and in a decode step, so decoding reproduces the forward exactly.
    order = ranked.flip(-1).sort(dim=-1, descending=True, stable=True).indices[..., : min(topk, S)]
    indices = S - 1 - order
    return indices, allowed.expand_as(ranked).gather(-1, indices)


def select_topk(scores: torch.Tensor, allowed: torch.Tensor, topk: int) -> torch.Tensor:
    """topk_indices as a mask: bool (B, Tq, S), True on each query's selected keys (exactly min(topk, #allowed))."""
    indices, valid = topk_indices(scores, allowed, topk)
    return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(-1, indices, valid)
