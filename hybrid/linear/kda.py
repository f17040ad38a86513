"""`kda`: Kimi Delta Attention (Kimi Linear, Moonshot 2025): Gated DeltaNet with a decay per key channel.

    q, k, v = SiLU(ShortConv(W_q x)), SiLU(ShortConv(W_k x)), SiLU(ShortConv(W_v x));  q, k L2-normalised
    g_t = -exp(A_log[h]) * softplus(f_b(f_a(x_t)) + dt_bias)     # (H, K): one decay per key channel, log space
    beta_t = sigmoid(W_b x_t)                                     # x2 with allow_neg_eigval: beta in (0, 2)
    S_t = diag(exp(g_t)) S_{t-1} + beta_t k_t (v_t - (diag(exp(g_t)) S_{t-1})^T k_t)^T,  o_t = S_t^T q_t / sqrt(K)
    y = W_o ( RMSNorm_per_head(o) * sigmoid(g_b(g_a(x))) )
Layout as Kimi Linear's modeling code and FLA's KimiDeltaAttention: the decay and the output gate each come from a
low-rank pair (rank cfg.linear.gate_rank, default head_dim) with no biases; A_log is per head, dt_bias per channel
(H * K). Init: A = U(1, 16) as in GDN. Kimi's release leaves dt_bias's init to its init hook and FLA zeroes it; we
give it GDN's init (softplus(dt_bias) log-uniform in [1e-3, 1e-1], per channel) so the mixers start from the same
decay range and a comparison between them doesn't hinge on that. A_log and dt_bias carry `_no_weight_decay`.
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
from kernels import chunk_kda, fused_recurrent_kda


@register_linear("kda")
class KimiDeltaAttention(DeltaRuleMixer):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__(cfg, layer_idx)
        rank = cfg.linear.gate_rank if cfg.linear.gate_rank is not None else self.K
        if rank < 1:
            raise ValueError(f"model.linear.gate_rank={rank}; valid: a positive rank or None (head_dim)")
        self.f_a_proj = nn.Linear(cfg.d_model, rank, bias=False)
        self.f_b_proj = nn.Linear(rank, self.H * self.K, bias=False)
        self.A_log = a_log_param(self.H)  # (H,)
        self.dt_bias = dt_bias_param(self.H * self.K)  # (H * K,)
        self.g_a_proj = nn.Linear(cfg.d_model, rank, bias=False)
        self.g_b_proj = nn.Linear(rank, self.H * self.V, bias=False)
        self.o_norm = GatedRMSNorm(self.V, eps=cfg.norm_eps, act="sigmoid")

    def compute_decay(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> log decay g (B, T, H, K), <= 0, in fp32 (fp64 for a float64 module)."""
        return self.decay_from(self.f_a_proj(x))

    def decay_from(self, f_a: torch.Tensor) -> torch.Tensor:
        """f_a_proj's output (B, T, rank) -> log decay g (B, T, H, K)."""
        B, T, _ = f_a.shape
        a = self.f_b_proj(f_a).view(B, T, self.H, self.K)  # (B, T, H, K)
        return mamba_decay(a, self.A_log[:, None], self.dt_bias.view(self.H, self.K), self.fused_gates)

    def forward(
        self, x: torch.Tensor, cache: LinearCache | None = None, cu_seqlens: Any = None
    ) -> tuple[torch.Tensor, LinearCache | None]:
        check_call(x, cache, cu_seqlens)
        B, T, _ = x.shape
        q, k, v, b, f_a, g_a = project_together(x, self.q_proj, self.k_proj, self.v_proj, self.b_proj,
                                                self.f_a_proj, self.g_a_proj)
        q, k, v = self.convolve(q, k, v, cache, cu_seqlens)  # (B, T, H, K), (B, T, H, K), (B, T, H, V)
        g, beta = self.decay_from(f_a), beta_gate(b, self.allow_neg_eigval)  # (B, T, H, K), (B, T, H)
        o = run_kernel(chunk_kda, fused_recurrent_kda, q, k, v, g, beta, use_qk_l2norm_in_kernel=True,
                       cache=cache, cu_seqlens=cu_seqlens, chunk_size=self.chunk_size,
                       launch=self.launch)  # (B, T, H, V)
        gate = self.g_b_proj(g_a).view(B, T, self.H, self.V)  # (B, T, H, V)
        o = self.o_norm(o, gate).reshape(B, T, self.H * self.V)
        return self.o_proj(o), cache
