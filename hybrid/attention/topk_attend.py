"""Softmax attention over each query's own K selected keys, gathered: O(T K) work and memory instead of the T x T of
dense attention under a top-k mask (dsa's `sparse_impl: gather`; the dense form in dsa.py is its reference).

    logits[t, j] = q[t] . k[idx[t, j]] * scale + bias[t, j]      for the valid slots j of query t, -inf elsewhere
    o[t]         = softmax_j(logits[t]) @ v[idx[t]]

The gathered keys and values are (B, H_kv, T, K, D): with K in the tens this is a small multiple of q's size, where
the dense form's mask alone is (B, T, S).
"""

from __future__ import annotations

import torch


def gather_keys(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """x: (B, H_kv, S, D), indices: (B, T, K) into S -> (B, H_kv, T, K, D)."""
    B, H_kv, S, D = x.shape
    _, T, K = indices.shape
    flat = indices.reshape(B, 1, T * K, 1).expand(B, H_kv, T * K, D)
    return x.gather(2, flat).view(B, H_kv, T, K, D)


def topk_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    indices: torch.Tensor,
    valid: torch.Tensor,
    bias: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """q: (B, H, T, D); k, v: (B, H_kv, S, D) with H a multiple of H_kv; indices, valid: (B, T, K); bias: (B, T, K)
    added to the logits of the valid slots -> (B, H, T, D). Every query needs at least one valid slot."""
    B, H, T, D = q.shape
    H_kv = k.shape[1]
    groups = H // H_kv
    scale = D**-0.5 if scale is None else scale
    kg, vg = gather_keys(k, indices), gather_keys(v, indices)  # (B, H_kv, T, K, D)
    qg = q.view(B, H_kv, groups, T, D)
    acc = torch.promote_types(q.dtype, torch.float32)  # the softmax in fp32 at least (float64 in the tests)
    logits = torch.einsum("bhgtd,bhtkd->bhgtk", qg, kg).to(acc) * scale  # (B, H_kv, groups, T, K)
    if bias is not None:
        logits = logits + bias[:, None, None].to(acc)
    weights = logits.masked_fill(~valid[:, None, None], float("-inf")).softmax(-1).to(vg.dtype)
    return torch.einsum("bhgtk,bhtkd->bhgtd", weights, vg).reshape(B, H, T, v.shape[-1])
