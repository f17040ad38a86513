"""What the three delta-rule mixers (deltanet, gated_deltanet, kda) share: q/k/v projections through short causal
convs (SiLU), the write strength beta, the cache and the FLOP count. Each variant adds its decay and output gate."""
from __future__ import annotations

import torch
from torch import nn

from hybrid.config import ModelConfig
from hybrid.linear.cache import LinearCache
from hybrid.linear.dims import head_dims
from hybrid.linear.flops import delta_rule_flops, effective_chunk
from hybrid.linear.gates import beta_gate
from hybrid.linear.short_conv import ShortConv, shared_positions
from kernels import LaunchConfig


class DeltaRuleMixer(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        d = head_dims(cfg)
        self.H, self.K, self.V = d.H, d.K, d.V
        self.layer_idx = layer_idx
        self.chunk_size = cfg.linear.chunk_size
        self.launch = LaunchConfig(recompute=cfg.linear.recompute)  # the chunked kernels' launch choices
        self.fused_gates = cfg.fused_gates  # the decay as one Triton kernel each way (kda, gated_deltanet)
        self.allow_neg_eigval = cfg.linear.allow_neg_eigval
        self.q_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, d.H * d.K, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, d.H * d.V, bias=False)
        self.b_proj = nn.Linear(cfg.d_model, d.H, bias=False)
        self.q_conv = ShortConv(d.H * d.K, cfg.linear.conv_size, "q")
        self.k_conv = ShortConv(d.H * d.K, cfg.linear.conv_size, "k")
        self.v_conv = ShortConv(d.H * d.V, cfg.linear.conv_size, "v")
        self.o_proj = nn.Linear(d.H * d.V, cfg.d_model, bias=False)

    def new_cache(self) -> LinearCache:
        return LinearCache()

    def convolve(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache: LinearCache | None,
                 cu_seqlens) -> tuple[torch.Tensor, ...]:
        """The projections (B, T, H * K), (B, T, H * K), (B, T, H * V) through their short convs, split into heads."""
        B, T, _ = q.shape
        pos = shared_positions(q, self.q_conv.size, cache, cu_seqlens)
        q = self.q_conv(q, cache, cu_seqlens, pos).view(B, T, self.H, self.K)
        k = self.k_conv(k, cache, cu_seqlens, pos).view(B, T, self.H, self.K)
        v = self.v_conv(v, cache, cu_seqlens, pos).view(B, T, self.H, self.V)
        return q, k, v

    def compute_beta(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> write strength beta (B, T, H) in (0, 1), or (0, 2) with allow_neg_eigval."""
        return beta_gate(self.b_proj(x), self.allow_neg_eigval)

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token of the mixing (no projections, convs or norms): the chunked delta rule,
        H * (6 K V + 6 C K + 4 C V + 2 C^2 / 3), C = min(chunk_size, seq_len). A decay (per head or per key channel)
        only adds elementwise work, not counted. See hybrid/linear/flops.py."""
        return delta_rule_flops(self.H, self.K, self.V, effective_chunk(self.chunk_size, seq_len))
