"""Chunk-parallel decayed linear attention (simple GLA / lightning) in pure PyTorch: the CPU training path.

No delta rule, so nothing needs solving: with G_t the cumulative log decay since the chunk start and S the state
entering the chunk,
    o_t = (q_t e^{G_t})^T S + sum_{j<=t} (q_t . k_j) e^{G_t - G_j} v_j        (q already scaled)
    S'  = e^{G_C} S + sum_j e^{G_C - G_j} k_j v_j^T
Each chunk's contribution to the state is computed for all chunks at once; the loop over chunks only decays and
adds. Every exponent is a difference G_later - G_earlier <= 0 (see kernels/utils/decay.py).
"""
from __future__ import annotations

import torch

from kernels.utils.chunking import effective_chunk_size, from_chunks, to_chunks
from kernels.utils.decay import causal_decayed_scores
from kernels.utils.runner_torch import run_core


def chunk_simple_gla_torch(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) log decay per head; None: no decay
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    g = head_gate(g, q)

    def core(q, k, v, g, h0):
        return chunk_simple_gla_core(q, k, v, g, h0, chunk_size)

    return run_core(core, q, k, v, (g,), scale, initial_state, output_final_state, cu_seqlens, False)


def head_gate(g: torch.Tensor | None, q: torch.Tensor) -> torch.Tensor:
    """Gate as (B, T, H, 1), broadcasting over K; None becomes zeros (no decay)."""
    return q.new_zeros(*q.shape[:3], 1) if g is None else g.unsqueeze(-1)


def chunk_simple_gla_core(
    q: torch.Tensor,  # (B, T, H, K), scaled
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H, 1)
    h0: torch.Tensor,  # (B, H, K, V)
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    T = q.shape[1]
    chunk_size = effective_chunk_size(chunk_size, T)
    q, k, v, g = (to_chunks(x, chunk_size) for x in (q, k, v, g))  # (B, H, N, C, .)
    G = g.cumsum(-2)  # (B, H, N, C, 1)
    G_last = G[..., -1:, :]  # (B, H, N, 1, 1)
    chunk_kv = (k * (G_last - G).exp()).transpose(-1, -2) @ v  # (B, H, N, K, V) each chunk's write, at its end
    decay_chunk = G_last.exp()  # (B, H, N, 1, 1)

    S, states = h0, []
    for decay_n, kv_n in zip(decay_chunk.unbind(2), chunk_kv.unbind(2)):  # unbind: cheap backward (see delta rule)
        states.append(S)
        S = decay_n * S + kv_n
    qk = causal_decayed_scores(q.unsqueeze(-3), k, G).squeeze(-3)  # (B, H, N, C, C)
    o = (q * G.exp()) @ torch.stack(states, 2) + qk @ v  # (B, H, N, C, V)
    return from_chunks(o, T), S
