"""Chunk-parallel gated delta rule in pure PyTorch: the CPU training path (autograd provides the backward).

One implementation covers DeltaNet (no decay), Gated DeltaNet (a log decay per head, broadcast over K) and KDA
(a log decay per key channel). Within a chunk of C tokens the C sequential rank-1 delta updates collapse, by the
WY/UT transform, into one unit-lower-triangular solve; only the (K, V) state crosses chunk boundaries, so the Python
loop runs T / C times, never T times.

With G_t the cumulative log decay since the chunk start and S the state entering the chunk, the state after token t
is S_t = e^{G_t} S + sum_{j<=t} e^{G_t - G_j} k_j u_j^T, where the pseudo-values u solve
    (I + A) u = beta * (v - (k e^{G}) S),   A_tj = beta_t sum_k k_tk k_jk e^{G_tk - G_jk}   (j < t).
The solve is linear in S, so u = U0 - W S with U0 = (I + A)^-1 (beta v) and W = (I + A)^-1 (beta k e^G) computed for
all chunks at once. The loop then only does u = U0 - W S and S <- e^{G_C} S + (k e^{G_C - G})^T u, and afterwards
    o_t = (q_t e^{G_t})^T S + sum_{j<=t} (q_t . k_j e^{G_t - G_j}) u_j        (q already scaled)
for all chunks at once. Every exponent is a difference G_later - G_earlier <= 0 (see kernels/utils/decay.py).
"""
from __future__ import annotations

import torch

from kernels.utils.chunking import effective_chunk_size, from_chunks, to_chunks
from kernels.utils.decay import causal_decayed_scores
from kernels.utils.runner_torch import run_core


def chunk_gated_delta_rule_torch(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) per-head or (B, T, H, K) per-channel log decay; None: no decay
    beta: torch.Tensor,  # (B, T, H)
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
    use_qk_l2norm_in_kernel: bool,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    g = as_channel_gate(g, beta)

    def core(q, k, v, g, beta, h0):
        return chunk_delta_rule_core(q, k, v, g, beta, h0, chunk_size)

    return run_core(core, q, k, v, (g, beta), scale, initial_state, output_final_state, cu_seqlens,
                    use_qk_l2norm_in_kernel)


def as_channel_gate(g: torch.Tensor | None, beta: torch.Tensor) -> torch.Tensor:
    """Gate as (B, T, H, D) with D = K (per channel) or 1 (per head, broadcast over K); None becomes zeros."""
    if g is None:
        return beta.new_zeros(*beta.shape, 1)
    return g if g.dim() == 4 else g.unsqueeze(-1)


def chunk_delta_rule_core(
    q: torch.Tensor,  # (B, T, H, K), scaled
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H, D), D in {1, K}
    beta: torch.Tensor,  # (B, T, H)
    h0: torch.Tensor,  # (B, H, K, V)
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    T = q.shape[1]
    U0, W, k_to_end, decay_chunk, q_decayed, qk = intra_chunk(q, k, v, g, beta, chunk_size)

    # Inter-chunk: the only sequential part. unbind, not indexing: its backward stacks instead of scattering
    # each chunk's gradient into a full-size zero tensor.
    S, states, pseudo_values = h0, [], []
    for U0_n, W_n, decay_n, k_n in zip(*(x.unbind(2) for x in (U0, W, decay_chunk.unsqueeze(-1),
                                                                  k_to_end.transpose(-1, -2)))):
        states.append(S)
        u = U0_n - W_n @ S  # (B, H, C, V)
        pseudo_values.append(u)
        S = decay_n * S + k_n @ u
    S_in, u = torch.stack(states, 2), torch.stack(pseudo_values, 2)  # (B, H, N, K, V), (B, H, N, C, V)

    o = q_decayed @ S_in + qk @ u  # (B, H, N, C, V)
    return from_chunks(o, T), S


def intra_chunk(
    q: torch.Tensor,  # (B, T, H, K), scaled
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H, D), D in {1, K}
    beta: torch.Tensor,  # (B, T, H)
    chunk_size: int,
) -> tuple[torch.Tensor, ...]:
    """The chunk-parallel part, for all chunks at once (shared by the PyTorch and Triton paths).

    Returns U0 (B, H, N, C, V), W (B, H, N, C, K), k_to_end (B, H, N, C, K) keys decayed to the chunk end,
    decay_chunk (B, H, N, D) whole-chunk state decay, q_decayed (B, H, N, C, K) = q e^G, qk (B, H, N, C, C) the
    causal decayed q.k scores; then per chunk u = U0 - W S, o = q_decayed S + qk u, S' = decay S + k_to_end^T u.
    """
    T, V = q.shape[1], v.shape[-1]
    chunk_size = effective_chunk_size(chunk_size, T)
    # contiguous: every elementwise op below otherwise runs on permuted views (slow strided kernels on the GPU)
    q, k, v, g = (to_chunks(x, chunk_size).contiguous() for x in (q, k, v, g))  # (B, H, N, C, .)
    beta = to_chunks(beta.unsqueeze(-1), chunk_size).contiguous()  # (B, H, N, C, 1)
    G = g.cumsum(-2)  # (B, H, N, C, D) log decay since the chunk start
    G_last = G[..., -1:, :]  # (B, H, N, 1, D)

    # q.k and k.k decayed scores share one pass over the decay factors.
    qk, kk = causal_decayed_scores(torch.stack((q, k), -3), k, G).unbind(-3)  # (B, H, N, C, C) each
    A = kk.tril(-1) * beta
    rhs = torch.cat((beta * v, beta * k * G.exp()), -1)  # (B, H, N, C, V + K)
    # unitriangular: the solver takes A's diagonal as 1, i.e. solves with I + A.
    U0, W = torch.linalg.solve_triangular(A, rhs, upper=False, unitriangular=True).split([V, k.shape[-1]], -1)
    k_to_end = k * (G_last - G).exp()  # (B, H, N, C, K) each key decayed to the chunk end
    decay_chunk = G_last.squeeze(-2).exp()  # (B, H, N, D) whole-chunk decay of the state rows
    return U0, W, k_to_end, decay_chunk, q * G.exp(), qk
