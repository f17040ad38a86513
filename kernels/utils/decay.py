"""Decay-weighted causal score matrices in log space: the one place the chunked paths exponentiate gate sums.

Inside a chunk, token t sees token j <= t through the decay accumulated between them, exp(G_t - G_j), where G is
the cumulative log decay (non-increasing, since gates are <= 0). Computing exp(G_t) and exp(-G_j) separately would
overflow in float32 once a chunk's decay passes ~exp(-88); here every exponent is a difference G_later - G_earlier,
so it is <= 0 and the factor lies in [0, 1].

Per-head (scalar) decay broadcasts over K, so the decay factors out of the dot product: (a @ b^T) * exp(G_t - G_j).
Per-key-channel decay does not factor out. Rather than materialising a (C, C, K) tensor, the chunk is split into
sub-chunks of s tokens: for t in sub-chunk i and j in an earlier one, the boundary r = i*s - 1 satisfies
j <= r < t, so exp(G_t - G_j) = exp(G_t - G_r) * exp(G_r - G_j) splits into two non-positive exponents and the block
is a matmul. Only the diagonal sub-chunk blocks need the explicit (s, s, K) product.
"""
from __future__ import annotations

import torch

SUB_CHUNK = 8
"""Sub-chunk length for per-channel decay: the explicit (s, s, K) work per chunk grows with it, matmul work doesn't."""


def causal_decayed_scores(a: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """M[..., p, t, j] = sum_k a[p, t, k] b[j, k] exp(G[t, k] - G[j, k]) for j <= t, and 0 above the diagonal.

    a: (..., P, C, K), P row sets scored against the same b (the delta rule scores q and k at once);
    b: (..., C, K); G: (..., C, K) per-channel or (..., C, 1) per-head cumulative log decay. Returns (..., P, C, C).
    """
    P, C = a.shape[-3:-1]
    causal = torch.ones(C, C, dtype=torch.bool, device=a.device).tril()
    if G.shape[-1] == 1:
        # Mask before exp: above the diagonal G_t - G_j is positive and may overflow.
        log_decay = (G - G.transpose(-1, -2)).masked_fill(~causal, float("-inf"))  # (..., C, C)
        dots = (a.flatten(-3, -2) @ b.transpose(-1, -2)).unflatten(-2, (P, C))  # (..., P, C, C)
        return dots * log_decay.exp().unsqueeze(-3)
    return _per_channel_scores(a, b, G, min(SUB_CHUNK, C))


def _per_channel_scores(a: torch.Tensor, b: torch.Tensor, G: torch.Tensor, s: int) -> torch.Tensor:
    P, C = a.shape[-3:-1]
    n = C // s  # C and s are powers of two, so s divides C
    G_blk = G.unflatten(-2, (n, s))  # (..., n, s, K)
    a_blk, b_blk = a.unflatten(-2, (n, s)), b.unflatten(-2, (n, s))  # (..., P, n, s, K), (..., n, s, K)

    # Diagonal sub-chunk blocks: explicit per-channel decay, folded into b once for all P row sets.
    local = torch.ones(s, s, dtype=torch.bool, device=a.device).tril()
    log_decay = (G_blk[..., :, None, :] - G_blk[..., None, :, :]).masked_fill(~local[..., None], float("-inf"))
    b_decayed = log_decay.exp() * b_blk[..., None, :, :]  # (..., n, s_t, s_j, K)
    diag = (b_decayed @ a_blk.movedim(-4, -1)).movedim(-1, -4)  # (..., P, n, s_t, s_j)

    rows = [torch.cat((diag[..., 0, :, :], a.new_zeros(*a.shape[:-2], s, C - s)), -1)]
    for i in range(1, n):
        # Earlier sub-chunks, through the boundary r = i*s - 1 just before sub-chunk i.
        G_r = G[..., i * s - 1, None, :]  # (..., 1, K)
        a_i = a_blk[..., i, :, :] * (G_blk[..., i, :, :] - G_r).exp().unsqueeze(-3)  # (..., P, s, K)
        b_i = b[..., : i * s, :] * (G_r - G[..., : i * s, :]).exp()  # (..., i*s, K)
        off = (a_i.flatten(-3, -2) @ b_i.transpose(-1, -2)).unflatten(-2, (P, s))  # (..., P, s, i*s)
        rows.append(torch.cat((off, diag[..., i, :, :], a.new_zeros(*a.shape[:-2], s, C - (i + 1) * s)), -1))
    return torch.cat(rows, -2)  # (..., P, C, C)
