"""`mha`: causal softmax attention with grouped-query heads (GQA) and RoPE, through torch's SDPA.

The plain baseline of the `A` layers; `swa` reuses it with a window. Honours `attention.nope` (no RoPE at all)
and `attention.conv_size` (short convolutions on q, k, v).
"""

from __future__ import annotations

import torch
from torch import nn

from hybrid.attention.flops import attention_flops, mean_visible_keys
from hybrid.attention.heads import HeadDims
from hybrid.attention.kv_cache import KVCache
from hybrid.attention.positions import token_positions
from hybrid.attention.qkv_conv import qkv_conv
from hybrid.attention.rope import RotaryEmbedding
from hybrid.attention.sdpa import attend, check_packed
from hybrid.joint_projection import project_together
from hybrid.weight_init import init_linear_
from hybrid.config import ModelConfig
from hybrid.registry import register_attention


@register_attention("mha")
class MultiHeadAttention(nn.Module):
    window: int | None = None
    """Keys visible to each query including itself; None is full causal attention (swa sets it)."""
    supports_conv = True
    """Takes attention.conv_size (hybrid/attention/qkv_conv.py)."""

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        a = cfg.attention
        self.layer_idx = layer_idx
        self.dims = HeadDims.from_config(cfg)
        H, H_kv, D = self.dims.n_heads, self.dims.n_kv_heads, self.dims.head_dim
        self.q_proj = nn.Linear(cfg.d_model, H * D, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, H_kv * D, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, H_kv * D, bias=False)
        self.o_proj = nn.Linear(H * D, cfg.d_model, bias=False)
        self.rope = RotaryEmbedding(D, 0.0 if a.nope else a.rotary_fraction, a.rope_theta)
        self.packed = check_packed(a.packed)
        self.conv = qkv_conv(H * D, H_kv * D, a.conv_size)
        init_linear_(self, cfg.init_std)

    def new_cache(self) -> KVCache:
        # A query sees itself plus window - 1 past tokens, so that is all a bounded cache must keep.
        return KVCache(max_len=None if self.window is None else self.window - 1)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, KVCache | None]:
        """x: (B, T, d_model) -> (y (B, T, d_model), cache). See hybrid.registry for the contract."""
        B, T, _ = x.shape
        H, H_kv, D = self.dims.n_heads, self.dims.n_kv_heads, self.dims.head_dim
        pos = token_positions(x, cache, cu_seqlens)  # (T,)
        q, k, v = project_together(x, self.q_proj, self.k_proj, self.v_proj)
        if self.conv is not None:
            q, k, v = self.conv(q, k, v, cache, cu_seqlens)
        q = self.rope(q.view(B, T, H, D), pos).transpose(1, 2)  # (B, H, T, D)
        k = self.rope(k.view(B, T, H_kv, D), pos).transpose(1, 2)  # (B, H_kv, T, D)
        v = v.view(B, T, H_kv, D).transpose(1, 2)  # (B, H_kv, T, D)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, H_kv, S, D): cached + new
        o = attend(q, k, v, window=self.window, cu_seqlens=cu_seqlens, packed=self.packed)  # (B, H, T, D)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * D)), cache

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token of QK^T and AV (no projections), averaged over a causal sequence of seq_len."""
        D = self.dims.head_dim
        return attention_flops(self.dims.n_heads, D, D, mean_visible_keys(seq_len, self.window))
