"""`linear`: vanilla causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs").

    phi(x) = elu(x) + 1                                  # positive feature map on q and k
    S_t = S_{t-1} + phi(k_t) v_t^T,   z_t = z_{t-1} + phi(k_t)
    o_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps)        # no decay, normalised by the running key mass
Numerator and denominator come from one kernel call by appending a column of ones to v: that column of the state is
z. The cached state is therefore (B, H, K, V + 1). No 1/sqrt(K) scale: it would cancel in the ratio (eps aside).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hybrid.config import ModelConfig
from hybrid.linear.cache import LinearCache, check_call, run_kernel
from hybrid.linear.dims import head_dims
from hybrid.linear.flops import decayed_linear_attention_flops, effective_chunk
from hybrid.linear.short_conv import plain_conv
from hybrid.registry import register_linear
from kernels import chunk_simple_gla, fused_recurrent_simple_gla


@register_linear("linear")
class LinearAttention(nn.Module):
    supports_plain_conv = True
    """Takes linear.plain_conv_size: short convs (then SiLU) on q, k, v before the feature map."""
    eps: float = 1e-6
    """Added to the normaliser phi(q)^T z (which is > 0 already) so it can never divide by ~0."""

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        d = head_dims(cfg)
        self.H, self.K, self.V = d.H, d.K, d.V
        self.layer_idx = layer_idx
        self.chunk_size = cfg.linear.chunk_size
        self.q_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, d.H * d.V, bias=False)
        self.o_proj = nn.Linear(d.H * d.V, cfg.d_model, bias=False)
        self.conv = plain_conv(cfg, d.H * d.K, d.H * d.K, d.H * d.V)

    def new_cache(self) -> LinearCache:
        return LinearCache()

    def forward(
        self, x: torch.Tensor, cache: LinearCache | None = None, cu_seqlens: Any = None
    ) -> tuple[torch.Tensor, LinearCache | None]:
        check_call(x, cache, cu_seqlens)
        B, T, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.conv is not None:
            q, k, v = self.conv(q, k, v, cache, cu_seqlens)
        q = F.elu(q.view(B, T, self.H, self.K)) + 1.0  # (B, T, H, K)
        k = F.elu(k.view(B, T, self.H, self.K)) + 1.0  # (B, T, H, K)
        v = v.view(B, T, self.H, self.V)  # (B, T, H, V)
        v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)  # (B, T, H, V + 1): the last column accumulates z
        o = run_kernel(chunk_simple_gla, fused_recurrent_simple_gla, q, k, v1, g=None, scale=1.0,
                       cache=cache, cu_seqlens=cu_seqlens, chunk_size=self.chunk_size)  # (B, T, H, V + 1)
        o = o[..., : self.V] / (o[..., self.V :] + self.eps)  # (B, T, H, V)
        return self.o_proj(o.reshape(B, T, self.H * self.V)), cache

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token of the mixing (no projections): chunked linear attention with V + 1 value columns,
        H * (4 K (V+1) + 2 C (K + V + 1)), C = min(chunk_size, seq_len); see hybrid/linear/flops.py."""
        return decayed_linear_attention_flops(self.H, self.K, self.V + 1, effective_chunk(self.chunk_size, seq_len))
