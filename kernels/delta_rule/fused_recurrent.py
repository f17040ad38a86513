"""Token-by-token gated delta rule in PyTorch: the decoding path (a few tokens from a cached state).

The same recurrence as naive.py, vectorised over batch and heads, with the state in float32 (float64 for float64
inputs). Covers no decay, per-head decay and per-key-channel decay like the chunked path.
"""
from __future__ import annotations

import torch

from kernels.delta_rule.chunk import as_channel_gate
from kernels.utils.runner_torch import run_core


def fused_recurrent_gated_delta_rule_torch(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) or (B, T, H, K) log decay; None: no decay
    beta: torch.Tensor,  # (B, T, H)
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
    use_qk_l2norm_in_kernel: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    return run_core(recurrent_delta_rule_core, q, k, v, (as_channel_gate(g, beta), beta), scale, initial_state,
                    output_final_state, cu_seqlens, use_qk_l2norm_in_kernel)


def recurrent_delta_rule_core(
    q: torch.Tensor,  # (B, T, H, K), scaled
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H, D), D in {1, K}
    beta: torch.Tensor,  # (B, T, H)
    h0: torch.Tensor,  # (B, H, K, V)
) -> tuple[torch.Tensor, torch.Tensor]:
    S, outputs = h0, []
    decay = g.exp().unsqueeze(-1)  # (B, T, H, D, 1)
    for t in range(q.shape[1]):
        S = decay[:, t] * S
        k_t = k[:, t]  # (B, H, K)
        error = v[:, t] - (k_t.unsqueeze(-2) @ S).squeeze(-2)  # (B, H, V)
        S = S + k_t.unsqueeze(-1) * (beta[:, t, :, None] * error).unsqueeze(-2)
        outputs.append((q[:, t].unsqueeze(-2) @ S).squeeze(-2))
    return torch.stack(outputs, 1), S
