"""The one call into torch's scaled_dot_product_attention that the softmax mixers share (causal, windowed, packed,
GQA)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hybrid.attention.masks import sdpa_mask


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int | None = None,
    cu_seqlens: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Causal softmax attention of the last Tq positions over Tk keys.

    q: (B, H, Tq, E); k: (B, H_kv, Tk, E); v: (B, H_kv, Tk, Ev) with H a multiple of H_kv (GQA) -> (B, H, Tq, Ev).
    scale defaults to 1/sqrt(E).
    """
    mask, is_causal = sdpa_mask(q.shape[2], k.shape[2], window, cu_seqlens, q.device)
    gqa = q.shape[1] != k.shape[1]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale, enable_gqa=gqa)
