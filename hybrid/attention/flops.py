"""FLOP counts of the attention core (QK^T and AV, no projections), per token, for the trainer's MFU.

A multiply-add counts 2 FLOPs. A query at position t (0-based) of a causal sequence sees t + 1 keys, so over a
sequence of L tokens the mean is (L + 1) / 2; a query limited to `limit` keys (window, top-k) sees min(t + 1, limit).
"""

from __future__ import annotations


def mean_visible_keys(seq_len: int, limit: int | None = None) -> float:
    """Mean over t in [0, seq_len) of min(t + 1, limit) (limit None: no cap)."""
    if seq_len < 1:
        raise ValueError(f"seq_len={seq_len}; valid: a positive integer")
    if limit is None or limit >= seq_len:
        return (seq_len + 1) / 2
    ramp = limit * (limit + 1) / 2  # the first `limit` queries see 1, 2, ..., limit keys
    return (ramp + (seq_len - limit) * limit) / seq_len


def attention_flops(n_heads: int, qk_dim: int, v_dim: int, keys: float) -> float:
    """FLOPs per query for QK^T (qk_dim) and AV (v_dim) over `keys` keys in each of n_heads heads."""
    return 2.0 * n_heads * keys * (qk_dim + v_dim)
