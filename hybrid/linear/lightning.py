"""`lightning`: lightning attention as in MiniMax-01 / MiniMax-M1 (their linear layers, with softmax every 8th).

    q, k, v = SiLU(W_q x), SiLU(W_k x), SiLU(W_v x)
    S_t = exp(-s_h) S_{t-1} + k_t v_t^T,  o_t = S_t^T q_t          # fixed per-head decay, no 1/sqrt(K) scale
    y = W_o ( sigmoid(W_g x) * RMSNorm(o) )
Choices, following MiniMax-Text-01's reference modeling code:
- s_h are the ALiBi slopes (Press et al. 2022): 2^(-8(h+1)/H) for H a power of two; otherwise those of the nearest
  lower power of two followed by every other slope of the next power of two, as ALiBi's reference does.
- They are scaled per layer by (1 - layer_idx / (n_layers - 1) + 1e-5) (1 + 1e-5 for a single layer), so early layers
  forget fast and the last layer barely decays. They are a fixed, non-persistent buffer, never learned.
- q and k are not scaled by 1/sqrt(K) (the reference doesn't); the output RMSNorm spans all heads (H * V), as the
  reference's norm does, before the sigmoid output gate.
- Separate q/k/v projections rather than one fused qkv: the same function, and clearer parameter names.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hybrid.config import ModelConfig
from hybrid.linear.cache import LinearCache, check_call, run_kernel
from hybrid.linear.dims import head_dims
from hybrid.linear.flops import decayed_linear_attention_flops, effective_chunk
from hybrid.linear.short_conv import plain_conv
from hybrid.norm import RMSNorm
from hybrid.registry import register_linear
from kernels import chunk_simple_gla, fused_recurrent_simple_gla


def alibi_slopes(n_heads: int) -> list[float]:
    """ALiBi's head slopes: a geometric sequence from 2^(-8/n); non-powers of two interleave the next power's."""

    def power_of_2(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_2(n_heads)
    lower = 2 ** math.floor(math.log2(n_heads))
    return power_of_2(lower) + alibi_slopes(2 * lower)[0::2][: n_heads - lower]


def layer_decay_factor(layer_idx: int, n_layers: int) -> float:
    """MiniMax's depth schedule for the slopes: 1 at the first layer down to ~0 (1e-5) at the last."""
    if n_layers <= 1:
        return 1.0 + 1e-5
    return 1.0 - layer_idx / (n_layers - 1) + 1e-5


@register_linear("lightning")
class LightningAttention(nn.Module):
    supports_plain_conv = True
    """Takes linear.plain_conv_size: short convs on q, k, v (their SiLU is the one lightning applies anyway)."""

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        d = head_dims(cfg)
        self.H, self.K, self.V = d.H, d.K, d.V
        self.layer_idx = layer_idx
        self.chunk_size = cfg.linear.chunk_size
        self.q_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, d.H * d.V, bias=False)
        self.g_proj = nn.Linear(cfg.d_model, d.H * d.V, bias=False)
        self.o_norm = RMSNorm(d.H * d.V, eps=cfg.norm_eps)
        self.o_proj = nn.Linear(d.H * d.V, cfg.d_model, bias=False)
        slopes = torch.tensor(alibi_slopes(d.H), dtype=torch.float32) * layer_decay_factor(layer_idx, cfg.n_layers)
        self.register_buffer("slopes", slopes, persistent=False)  # (H,) decay rates s_h > 0
        self.conv = plain_conv(cfg, d.H * d.K, d.H * d.K, d.H * d.V)

    def new_cache(self) -> LinearCache:
        return LinearCache()

    def forward(
        self, x: torch.Tensor, cache: LinearCache | None = None, cu_seqlens: Any = None
    ) -> tuple[torch.Tensor, LinearCache | None]:
        check_call(x, cache, cu_seqlens)
        B, T, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.conv is None:
            q, k, v = F.silu(q), F.silu(k), F.silu(v)
        else:
            q, k, v = self.conv(q, k, v, cache, cu_seqlens)  # conv, then the same SiLU
        q = q.view(B, T, self.H, self.K)  # (B, T, H, K)
        k = k.view(B, T, self.H, self.K)  # (B, T, H, K)
        v = v.view(B, T, self.H, self.V)  # (B, T, H, V)
        slopes = self.slopes if self.slopes.dtype == torch.float64 else self.slopes.float()
        g = (-slopes).expand(B, T, self.H).contiguous()  # (B, T, H) log decay, constant in time
        o = run_kernel(chunk_simple_gla, fused_recurrent_simple_gla, q, k, v, g=g, scale=1.0,
                       cache=cache, cu_seqlens=cu_seqlens, chunk_size=self.chunk_size)  # (B, T, H, V)
        o = self.o_norm(o.reshape(B, T, self.H * self.V)) * torch.sigmoid(self.g_proj(x))  # (B, T, H * V)
        return self.o_proj(o), cache

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token of the mixing (no projections): chunked decayed linear attention,
        H * (4 K V + 2 C (K + V)), C = min(chunk_size, seq_len); see hybrid/linear/flops.py."""
        return decayed_linear_attention_flops(self.H, self.K, self.V, effective_chunk(self.chunk_size, seq_len))
