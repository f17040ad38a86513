"""`gated`: Qwen3-Next gated attention: softmax attention whose output is gated per head and channel.

The query projection also emits a gate; the attention output is multiplied by sigmoid(gate) before o_proj, which lets
a head write nothing (no attention-sink workaround needed) and adds a cheap non-linearity. Queries and keys are
RMSNorm-ed per head before a partial RoPE (attention.rotary_fraction; the gated recipe rotates 0.25 of each head).
GQA through attention.num_kv_heads.
"""

from __future__ import annotations

import torch
from torch import nn

from hybrid.attention.flops import attention_flops, mean_visible_keys
from hybrid.attention.heads import HeadDims
from hybrid.attention.kv_cache import KVCache
from hybrid.attention.positions import token_positions
from hybrid.attention.rope import RotaryEmbedding
from hybrid.attention.sdpa import attend, check_packed
from hybrid.joint_projection import project_together
from hybrid.weight_init import init_linear_
from hybrid.config import ModelConfig
from hybrid.norm import RMSNorm
from hybrid.registry import register_attention


@register_attention("gated")
class GatedAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        a = cfg.attention
        self.layer_idx = layer_idx
        self.dims = HeadDims.from_config(cfg)
        H, H_kv, D = self.dims.n_heads, self.dims.n_kv_heads, self.dims.head_dim
        # Per head the q projection holds [query | gate], D each (the Qwen3-Next layout).
        self.q_proj = nn.Linear(cfg.d_model, H * 2 * D, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, H_kv * D, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, H_kv * D, bias=False)
        self.o_proj = nn.Linear(H * D, cfg.d_model, bias=False)
        self.q_norm = RMSNorm(D, cfg.norm_eps)
        self.k_norm = RMSNorm(D, cfg.norm_eps)
        self.rope = RotaryEmbedding(D, 0.0 if a.nope else a.rotary_fraction, a.rope_theta)
        self.packed = check_packed(a.packed)
        init_linear_(self, cfg.init_std)

    def new_cache(self) -> KVCache:
        return KVCache()

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, KVCache | None]:
        """x: (B, T, d_model) -> (y (B, T, d_model), cache). See hybrid.registry for the contract."""
        B, T, _ = x.shape
        H, H_kv, D = self.dims.n_heads, self.dims.n_kv_heads, self.dims.head_dim
        pos = token_positions(x, cache, cu_seqlens)  # (T,)
        q_gate, k, v = project_together(x, self.q_proj, self.k_proj, self.v_proj)
        q, gate = q_gate.view(B, T, H, 2 * D).split(D, dim=-1)  # (B, T, H, D) each
        q = self.rope(self.q_norm(q), pos).transpose(1, 2)  # (B, H, T, D)
        k = self.rope(self.k_norm(k.view(B, T, H_kv, D)), pos).transpose(1, 2)  # (B, H_kv, T, D)
        v = v.view(B, T, H_kv, D).transpose(1, 2)  # (B, H_kv, T, D)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, H_kv, S, D)
        o = attend(q, k, v, cu_seqlens=cu_seqlens, packed=self.packed).transpose(1, 2)  # (B, T, H, D)
        o = o * torch.sigmoid(gate)
        return self.o_proj(o.reshape(B, T, H * D)), cache

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token of QK^T and AV (no projections, gate and norms are O(H D) and left out)."""
        D = self.dims.head_dim
        return attention_flops(self.dims.n_heads, D, D, mean_visible_keys(seq_len))
