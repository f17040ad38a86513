"""`deltanet`: DeltaNet (Schlag et al. 2021; parallelised by Yang et al. 2024), layer layout as in FLA's DeltaNet.

    q, k, v = SiLU(ShortConv(W_q x)), SiLU(ShortConv(W_k x)), SiLU(ShortConv(W_v x));  q, k L2-normalised
    beta_t = sigmoid(W_b x_t)        (x2 with allow_neg_eigval: beta in (0, 2))
    S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T,  o_t = S_t^T q_t / sqrt(K)     # no decay
    y = W_o RMSNorm_per_head(o)
The delta rule overwrites the value stored under k_t instead of adding to it, so the state can hold H*K associations
without the unbounded interference of plain linear attention.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hybrid.config import ModelConfig
from hybrid.linear.cache import LinearCache, check_call, run_kernel
from hybrid.linear.dims import head_dims
from hybrid.linear.flops import delta_rule_flops, effective_chunk
from hybrid.linear.gates import beta_gate
from hybrid.linear.short_conv import ShortConv
from hybrid.norm import RMSNorm
from hybrid.registry import register_linear
from kernels import chunk_delta_rule, fused_recurrent_delta_rule


@register_linear("deltanet")
class DeltaNet(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        d = head_dims(cfg)
        self.H, self.K, self.V = d.H, d.K, d.V
        self.layer_idx = layer_idx
        self.chunk_size = cfg.linear.chunk_size
        self.allow_neg_eigval = cfg.linear.allow_neg_eigval
        self.q_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, d.H * d.V, bias=False)
        self.b_proj = nn.Linear(cfg.d_model, d.H, bias=False)
        self.q_conv = ShortConv(d.H * d.K, cfg.linear.conv_size, "q")
        self.k_conv = ShortConv(d.H * d.K, cfg.linear.conv_size, "k")
        self.v_conv = ShortConv(d.H * d.V, cfg.linear.conv_size, "v")
        self.o_norm = RMSNorm(d.V, eps=cfg.norm_eps)
        self.o_proj = nn.Linear(d.H * d.V, cfg.d_model, bias=False)

    def new_cache(self) -> LinearCache:
        return LinearCache()

    def compute_beta(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> write strength beta (B, T, H) in (0, 1), or (0, 2) with allow_neg_eigval."""
        return beta_gate(self.b_proj(x), self.allow_neg_eigval)

    def forward(
        self, x: torch.Tensor, cache: LinearCache | None = None, cu_seqlens: Any = None
    ) -> tuple[torch.Tensor, LinearCache | None]:
        check_call(x, cache, cu_seqlens)
        B, T, _ = x.shape
        q = self.q_conv(self.q_proj(x), cache, cu_seqlens).view(B, T, self.H, self.K)  # (B, T, H, K)
        k = self.k_conv(self.k_proj(x), cache, cu_seqlens).view(B, T, self.H, self.K)  # (B, T, H, K)
        v = self.v_conv(self.v_proj(x), cache, cu_seqlens).view(B, T, self.H, self.V)  # (B, T, H, V)
        beta = self.compute_beta(x)  # (B, T, H)
        o = run_kernel(chunk_delta_rule, fused_recurrent_delta_rule, q, k, v, beta, use_qk_l2norm_in_kernel=True,
                       cache=cache, cu_seqlens=cu_seqlens, chunk_size=self.chunk_size)  # (B, T, H, V)
        o = self.o_norm(o).reshape(B, T, self.H * self.V)
        return self.o_proj(o), cache

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token of the mixing (no projections, convs or norms): the chunked delta rule,
        H * (6 K V + 6 C K + 4 C V + 2 C^2 / 3), C = min(chunk_size, seq_len); see hybrid/linear/flops.py."""
        return delta_rule_flops(self.H, self.K, self.V, effective_chunk(self.chunk_size, seq_len))
