"""`mla`: multi-head latent attention (DeepSeek-V2/V3; Kimi Linear's full-attention layers).

Keys and values are compressed into one latent per token, c_kv = RMSNorm(W_dkv x) of rank kv_lora_rank, and
up-projected to per-head keys (Dn dims) and values (Dv dims). RoPE does not commute with that up-projection, so
position enters through a separate "decoupled" key of rope_head_dim dims shared by all heads, matched by as many
extra query dims. With attention.nope there is no positional encoding at all (Kimi Linear's MLA layers): no decoupled
dims, and causality alone tells the layer about order. Queries can be compressed too (q_lora_rank > 0).

The cache holds only c_kv and the shared rope key, (kv_lora_rank + rope_head_dim) numbers per token instead of
2 * H * D: that is the point of MLA. A decode step attends over it directly by absorbing the key up-projection into the
query and the value up-projection into the output (MQA over the latent); multi-token calls up-project the latent
instead, which is cheaper when many queries share it. attention.num_kv_heads does not apply here.
"""

from __future__ import annotations

import torch
from torch import nn

from hybrid.attention.flops import attention_flops, mean_visible_keys
from hybrid.attention.kv_cache import LatentCache
from hybrid.attention.positions import token_positions
from hybrid.attention.rope import RotaryEmbedding
from hybrid.attention.sdpa import attend, check_packed
from hybrid.weight_init import init_linear_
from hybrid.config import ModelConfig
from hybrid.norm import RMSNorm
from hybrid.registry import register_attention


@register_attention("mla")
class MultiHeadLatentAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        a = cfg.attention
        self.layer_idx = layer_idx
        self.n_heads = a.num_heads or cfg.n_heads
        self.nope_dim = self.v_dim = a.head_dim or cfg.head_dim  # Dn, Dv
        self.rope_dim = 0 if a.nope else a.rope_head_dim  # Dr
        self.kv_rank = a.kv_lora_rank  # R
        self.q_rank = a.q_lora_rank
        if self.kv_rank < 1:
            raise ValueError(f"attention.kv_lora_rank={self.kv_rank}; valid: a positive integer")
        if self.q_rank < 0:
            raise ValueError(f"attention.q_lora_rank={self.q_rank}; valid: 0 (full-rank query) or a positive rank")
        if self.rope_dim < 0 or self.rope_dim % 2:
            raise ValueError(f"attention.rope_head_dim={self.rope_dim}; valid: an even number >= 0")
        H, Dn, Dr, Dv, R = self.n_heads, self.nope_dim, self.rope_dim, self.v_dim, self.kv_rank
        if self.q_rank > 0:
            self.q_down = nn.Linear(cfg.d_model, self.q_rank, bias=False)
            self.q_norm = RMSNorm(self.q_rank, cfg.norm_eps)
            self.q_up = nn.Linear(self.q_rank, H * (Dn + Dr), bias=False)
        else:
            self.q_proj = nn.Linear(cfg.d_model, H * (Dn + Dr), bias=False)
        self.kv_down = nn.Linear(cfg.d_model, R + Dr, bias=False)
        self.kv_norm = RMSNorm(R, cfg.norm_eps)
        self.kv_up = nn.Linear(R, H * (Dn + Dv), bias=False)
        self.o_proj = nn.Linear(H * Dv, cfg.d_model, bias=False)
        self.rope = RotaryEmbedding(Dr, 1.0, a.rope_theta)
        self.packed = check_packed(a.packed)
        self.scale = (Dn + Dr) ** -0.5
        init_linear_(self, cfg.init_std)

    def new_cache(self) -> LatentCache:
        return LatentCache()

    def forward(
        self, x: torch.Tensor, cache: LatentCache | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, LatentCache | None]:
        """x: (B, T, d_model) -> (y (B, T, d_model), cache). See hybrid.registry for the contract."""
        B, T, _ = x.shape
        H, Dn, Dr, R = self.n_heads, self.nope_dim, self.rope_dim, self.kv_rank
        pos = token_positions(x, cache, cu_seqlens)  # (T,)
        q = self.q_up(self.q_norm(self.q_down(x))) if self.q_rank > 0 else self.q_proj(x)
        q_nope, q_rope = q.view(B, T, H, Dn + Dr).split([Dn, Dr], dim=-1)  # (B, T, H, Dn), (B, T, H, Dr)
        q_rope = self.rope(q_rope, pos)
        c_kv, k_rope = self.kv_down(x).split([R, Dr], dim=-1)  # (B, T, R), (B, T, Dr)
        c_kv = self.kv_norm(c_kv)
        k_rope = self.rope(k_rope.unsqueeze(2), pos).squeeze(2)  # one rope key per token, shared by the heads
        if cache is not None:
            c_kv, k_rope = cache.update(c_kv, k_rope)  # (B, S, R), (B, S, Dr)
        if cache is not None and T == 1:
            o = self._attend_latent(q_nope, q_rope, c_kv, k_rope)
        else:
            o = self._attend_expanded(q_nope, q_rope, c_kv, k_rope, cu_seqlens)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * self.v_dim)), cache  # o: (B, H, T, Dv)

    def _attend_expanded(self, q_nope, q_rope, c_kv, k_rope, cu_seqlens) -> torch.Tensor:
        """Up-project the latent to per-head keys/values and attend: (B, H, T, Dv)."""
        B, S, _ = c_kv.shape
        H, Dn, Dr = self.n_heads, self.nope_dim, self.rope_dim
        k_nope, v = self.kv_up(c_kv).view(B, S, H, Dn + self.v_dim).split([Dn, self.v_dim], dim=-1)
        k = torch.cat([k_nope, k_rope.unsqueeze(2).expand(B, S, H, Dr)], dim=-1).transpose(1, 2)  # (B, H, S, Dn+Dr)
        q = torch.cat([q_nope, q_rope], dim=-1).transpose(1, 2)  # (B, H, T, Dn+Dr)
        return attend(q, k, v.transpose(1, 2), cu_seqlens=cu_seqlens, scale=self.scale, packed=self.packed)

    def _attend_latent(self, q_nope, q_rope, c_kv, k_rope) -> torch.Tensor:
        """Attend over the latent itself, kv_up absorbed into query and output: (B, H, T, Dv).

        q_nope . (W_k c) = (W_k^T q_nope) . c per head, and softmax-weighted sums commute with W_v.
        """
        H, Dn, R = self.n_heads, self.nope_dim, self.kv_rank
        w = self.kv_up.weight.view(H, Dn + self.v_dim, R)
        w_k, w_v = w[:, :Dn], w[:, Dn:]  # (H, Dn, R), (H, Dv, R)
        q_lat = torch.einsum("bthn,hnr->bhtr", q_nope, w_k)  # (B, H, T, R)
        q = torch.cat([q_lat, q_rope.transpose(1, 2)], dim=-1)  # (B, H, T, R+Dr)
        k = torch.cat([c_kv, k_rope], dim=-1).unsqueeze(1)  # (B, 1, S, R+Dr): one key head for all
        o_lat = attend(q, k, c_kv.unsqueeze(1), scale=self.scale)  # (B, H, T, R)
        return torch.einsum("bhtr,hvr->bhtv", o_lat, w_v)

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token of QK^T and AV in the expanded (training) form; latent projections excluded."""
        return attention_flops(self.n_heads, self.nope_dim + self.rope_dim, self.v_dim, mean_visible_keys(seq_len))
