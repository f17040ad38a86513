"""Optional short convolutions on an attention layer's q, k and v projections (attention.conv_size > 0).

The same causal depthwise convolution + SiLU as the delta-rule mixers' (hybrid/linear/short_conv.py), so a baseline
can be given what the hybrids' linear layers have: each token sees its last few neighbours before attention, which
attention otherwise has to learn as a circuit. Decoding keeps their states in the layer's KVCache.conv; packed
documents restart them at each document start.
"""

from __future__ import annotations

from hybrid.linear.short_conv import QKVShortConv


def qkv_conv(q_dim: int, kv_dim: int, size: int) -> QKVShortConv | None:
    """The convolutions for attention.conv_size = size, or None for 0."""
    if size < 0:
        raise ValueError(f"attention.conv_size={size}; valid: 0 (none) or a kernel width >= 1")
    return QKVShortConv(q_dim, kv_dim, kv_dim, size) if size else None
