"""Fused recurrent gated delta rule on the Triton backend: the decoding path (see kernels/common/fused_recurrent.py).

Calls that need gradients run the chunked Triton path instead (the same function up to rounding); float64 inputs
stay on the PyTorch path.
"""
from __future__ import annotations

import torch

from kernels.delta_rule.fused_recurrent import fused_recurrent_gated_delta_rule_torch
from kernels.delta_rule.chunk_triton import chunk_gated_delta_rule_triton
from kernels.common.fused_recurrent import fused_recurrent_triton, needs_grad

GRAD_CHUNK = 16
"""Chunk used when a recurrent call needs gradients (decode-sized inputs: the smallest Triton chunk)."""


def fused_recurrent_gated_delta_rule_triton(
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
    args = (q, k, v, g, beta, scale, initial_state, output_final_state, cu_seqlens, use_qk_l2norm_in_kernel)
    if q.dtype == torch.float64:
        return fused_recurrent_gated_delta_rule_torch(*args)
    if needs_grad(q, k, v, g, beta, initial_state):
        return chunk_gated_delta_rule_triton(*args, GRAD_CHUNK)
    return fused_recurrent_triton(*args)
