"""Chunked decayed linear attention (linear, lightning) on the Triton backend.

Per chunk with cumulative log decay G: o = (q e^G) S + (causal decayed q.k) v and S' = e^{G_C} S + (k e^{G_C - G})^T v.
The scores are batched over all chunks in float32 (torch); the walk over chunks is the shared Triton kernel pair
(`kernels/common/chunk_state.py`) with no delta-rule solve (u = v). The inputs arrive in the caller's dtype
(`kernels/utils/runner_triton.py`) and become float32 chunks in one copy each. float64 inputs stay on the PyTorch path.
"""
from __future__ import annotations

import torch

from kernels.utils.chunking import to_chunks_contiguous, triton_chunk_size
from kernels.utils.decay import causal_decayed_scores
from kernels.simple_gla.chunk import chunk_simple_gla_torch, head_gate
from kernels.common.chunk_state import chunk_state
from kernels.utils.launch import DEFAULT_LAUNCH, LaunchConfig
from kernels.utils.runner_triton import run_triton_core
from kernels.utils.triton_support import dot_precision


def chunk_simple_gla_triton(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) log decay per head; None: no decay
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
    chunk_size: int,
    launch: LaunchConfig = DEFAULT_LAUNCH,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    if q.dtype == torch.float64:
        return chunk_simple_gla_torch(q=q, k=k, v=v, g=g, scale=scale, initial_state=initial_state,
                                      output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                                      chunk_size=chunk_size)
    precision, out_dtype = dot_precision(q.dtype), q.dtype

    def core(q, k, v, g, h0, C, layout):
        # packed documents (layout) arrive chunk-aligned in one row: the scores are per chunk, unchanged
        K = q.shape[-1]
        T, seqs = (q.shape[1], None) if layout is None else (layout.total, (layout.seq_starts, layout.chunk_starts))
        q, k, v, g = (to_chunks_contiguous(x, C, torch.float32) for x in (q, k, v, g))  # (B, H, N, C, .) float32
        G = g.cumsum(-2)  # (B, H, N, C, 1)
        G_last = G[..., -1:, :]
        qk = causal_decayed_scores(q.unsqueeze(-3), k, G).squeeze(-3)  # (B, H, N, C, C)
        decay_chunk = G_last.squeeze(-2).exp().expand(*G.shape[:3], K)  # (B, H, N, K)
        # the shared state recurrence without the delta rule's solve: no W, u = v
        return chunk_state(W=None, U0=v, Kd=k * (G_last - G).exp(), decay=decay_chunk, Qd=q * G.exp(), QK=qk, h0=h0,
                           precision=precision, T=T, out_dtype=out_dtype, seqs=seqs, launch=launch)

    return run_triton_core(core, q, k, v, (head_gate(g, q),), scale=scale, initial_state=initial_state,
                           output_final_state=output_final_state, cu_seqlens=cu_seqlens, use_qk_l2norm=False,
                           chunk_for=lambda T: triton_chunk_size(chunk_size, T))
