"""`gated_deltanet`: Gated DeltaNet (Yang et al. 2025), the linear layer of Qwen3-Next; layout as in FLA / Qwen3-Next.

    q, k, v = SiLU(ShortConv(W_q x)), SiLU(ShortConv(W_k x)), SiLU(ShortConv(W_v x));  q, k L2-normalised
    g_t = -exp(A_log) * softplus(W_a x_t + dt_bias)          # per head and step, log space (Mamba2's decay)
    beta_t = sigmoid(W_b x_t)                                # x2 with allow_neg_eigval: beta in (0, 2)
    S_t = exp(g_t) S_{t-1} + beta_t k_t (v_t - exp(g_t) S_{t-1}^T k_t)^T,  o_t = S_t^T q_t / sqrt(K)
    y = W_o GatedRMSNorm_per_head(o, gate=W_g x)             # RMSNorm(o) * SiLU(W_g x)
The gate lets the layer forget wholesale (exp(g) -> 0) while the delta rule edits single associations.
Init as the paper / FLA: A = U(1, 16), dt log-uniform in [1e-3, 1e-1] via dt_bias = softplus^-1(dt); both A_log and
dt_bias carry `_no_weight_decay`.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hybrid.config import ModelConfig
from hybrid.linear.cache import LinearCache, check_call, run_kernel
from hybrid.linear.delta_base import DeltaRuleMixer
from hybrid.joint_projection import project_together
from hybrid.linear.gates import a_log_param, beta_gate, dt_bias_param, mamba_decay
from hybrid.norm import GatedRMSNorm
from hybrid.registry import register_linear
from kernels import chunk_gated_delta_rule, fused_recurrent_gated_delta_rule


@register_linear("gated_deltanet")
class GatedDeltaNet(DeltaRuleMixer):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__(cfg, layer_idx)
        self.a_proj = nn.Linear(cfg.d_model, self.H, bias=False)
        self.A_log = a_log_param(self.H)  # (H,)
        self.dt_bias = dt_bias_param(self.H)  # (H,)
        self.g_proj = nn.Linear(cfg.d_model, self.H * self.V, bias=False)
        self.o_norm = GatedRMSNorm(self.V, eps=cfg.norm_eps, act="silu")

    def compute_decay(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> log decay g (B, T, H), <= 0, in fp32 (fp64 for a float64 module)."""
        return self.decay_from(self.a_proj(x))

    def decay_from(self, a: torch.Tensor) -> torch.Tensor:
        """a_proj's output (B, T, H) -> log decay g (B, T, H)."""
        return mamba_decay(a, self.A_log, self.dt_bias, self.fused_gates)

    def forward(
        self, x: torch.Tensor, cache: LinearCache | None = None, cu_seqlens: Any = None
    ) -> tuple[torch.Tensor, LinearCache | None]:
        check_call(x, cache, cu_seqlens)
        B, T, _ = x.shape
        q, k, v, b, a, gate = project_together(x, self.q_proj, self.k_proj, self.v_proj, self.b_proj, self.a_proj,
                                               self.g_proj)
        q, k, v = self.convolve(q, k, v, cache, cu_seqlens)  # (B, T, H, K), (B, T, H, K), (B, T, H, V)
        g = self.decay_from(a)  # (B, T, H)
        beta = beta_gate(b, self.allow_neg_eigval)  # (B, T, H)
        o = run_kernel(chunk_gated_delta_rule, fused_recurrent_gated_delta_rule, q, k, v, g, beta,
                       use_qk_l2norm_in_kernel=True, cache=cache, cu_seqlens=cu_seqlens,
                       chunk_size=self.chunk_size, launch=self.launch)  # (B, T, H, V)
        gate = gate.view(B, T, self.H, self.V)  # (B, T, H, V)
        o = self.o_norm(o, gate).reshape(B, T, self.H * self.V)
        return self.o_proj(o), cache
