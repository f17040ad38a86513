"""Fused recurrent decayed linear attention on the Triton backend: the decoding path
(kernels/common/fused_recurrent.py).

Calls that need gradients run the chunked Triton path instead; float64 inputs stay on the PyTorch path.
"""
from __future__ import annotations

import torch

from kernels.simple_gla.fused_recurrent import fused_recurrent_simple_gla_torch
from kernels.simple_gla.chunk_triton import chunk_simple_gla_triton
from kernels.common.fused_recurrent import fused_recurrent_triton, needs_grad

GRAD_CHUNK = 16


def fused_recurrent_simple_gla_triton(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) log decay per head; None: no decay
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    if q.dtype == torch.float64:
        return fused_recurrent_simple_gla_torch(q, k, v, g, scale, initial_state, output_final_state, cu_seqlens)
    if needs_grad(q, k, v, g, initial_state):
        return chunk_simple_gla_triton(q, k, v, g, scale, initial_state, output_final_state, cu_seqlens, GRAD_CHUNK)
    return fused_recurrent_triton(q, k, v, g, None, scale, initial_state, output_final_state, cu_seqlens, False)
