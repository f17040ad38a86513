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

from hybrid.config import ModelConfig
from hybrid.linear.cache import LinearCache, check_call, run_kernel
from hybrid.joint_projection import project_together
from hybrid.linear.delta_base import DeltaRuleMixer
from hybrid.linear.gates import beta_gate
from hybrid.norm import RMSNorm
from hybrid.registry import register_linear
from kernels import chunk_delta_rule, fused_recurrent_delta_rule


@register_linear("deltanet")
class DeltaNet(DeltaRuleMixer):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__(cfg, layer_idx)
        self.o_norm = RMSNorm(self.V, eps=cfg.norm_eps)

    def forward(
        self, x: torch.Tensor, cache: LinearCache | None = None, cu_seqlens: Any = None
    ) -> tuple[torch.Tensor, LinearCache | None]:
        check_call(x, cache, cu_seqlens)
        B, T, _ = x.shape
        q, k, v, b = project_together(x, self.q_proj, self.k_proj, self.v_proj, self.b_proj)
        q, k, v = self.convolve(q, k, v, cache, cu_seqlens)  # (B, T, H, K), (B, T, H, K), (B, T, H, V)
        beta = beta_gate(b, self.allow_neg_eigval)  # (B, T, H)
        o = run_kernel(chunk_delta_rule, fused_recurrent_delta_rule, q, k, v, beta, use_qk_l2norm_in_kernel=True,
                       cache=cache, cu_seqlens=cu_seqlens, chunk_size=self.chunk_size,
                       launch=self.launch)  # (B, T, H, V)
        o = self.o_norm(o).reshape(B, T, self.H * self.V)
        return self.o_proj(o), cache
