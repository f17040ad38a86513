"""Decay-weighted causal score matrices in log space: the one place the chunked paths exponentiate gate sums.

Inside a chunk, token t sees token j <= t through the decay accumulated between them, exp(G_t - G_j), where G is
the cumulative log decay (non-increasing, since gates are <= 0). Computing exp(G_t) and exp(-G_j) separately would
overflow in float32 once a chunk's decay passes ~exp(-88); here every exponent is a difference G_later - G_earlier,
so it is <= 0 and the factor lies in [0, 1].

Per-head (scalar) decay broadcasts over K, so the decay factors out of the dot product: (a @ b^T) * exp(G_t - G_j).
Per-key-channel decay does not factor out. Rather than materialising a (C, C, K) tensor, the chunk is split into
sub-chunks: for j in an earlier sub-chunk than t, the last position r of j's sub-chunk satisfies j <= r < t, so
exp(G_t - G_j) = exp(G_t - G_r) * exp(G_r - G_j) splits into two non-positive exponents and the block becomes a
matmul. Only the diagonal sub-chunk blocks need the explicit (s, s, K) product.
"""
from __future__ import annotations

import torch

SUB_CHUNK = 16
"""Sub-chunk length for per-channel decay: the explicit (s, s, K) work per chunk grows with it, matmul work doesn't."""


def causal_decayed_scores(a: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """M[..., t, j] = sum_k a[t, k] b[j, k] exp(G[t, k] - G[j, k]) for j <= t, and 0 above the diagonal.

    a: (..., C, K), b: (..., C, K), G: (..., C, K) per-channel or (..., C, 1) per-head cumulative log decay;
    leading dims broadcast (the chunked paths pass a stacked (2, ...) `a` to score q and k against k at once).
    """
    C = a.shape[-2]
    causal = torch.ones(C, C, dtype=torch.bool, device=a.device).tril()
    if G.shape[-1] == 1:
        # Mask before exp: above the diagonal G_t - G_j is positive and may overflow.
        log_decay = (G - G.transpose(-1, -2)).masked_fill(~causal, float("-inf"))  # (..., C, C)
        return (a @ b.transpose(-1, -2)) * log_decay.exp()
    return _per_channel_scores(a, b, G, min(SUB_CHUNK, C))


def _per_channel_scores(a: torch.Tensor, b: torch.Tensor, G: torch.Tensor, s: int) -> torch.Tensor:
    C = a.shape[-2]
    n = C // s  # C and s are powers of two, so s divides C
    a_blk, b_blk, G_blk = (x.unflatten(-2, (n, s)) for x in (a, b, G))  # (..., n, s, K)

    # Diagonal sub-chunk blocks: explicit per-channel decay.
    local = torch.ones(s, s, dtype=torch.bool, device=a.device).tril()
    log_decay = (G_blk[..., :, None, :] - G_blk[..., None, :, :]).masked_fill(~local[..., None], float("-inf"))
    diag = torch.einsum("...tjk,...jk->...tj", a_blk[..., :, None, :] * log_decay.exp(), b_blk)  # (..., n, s, s)
    eye = torch.eye(n, dtype=a.dtype, device=a.device)
    scores = (diag[..., :, :, None, :] * eye[:, None, :, None]).flatten(-4, -3).flatten(-2, -1)  # (..., C, C)
    if n == 1:
        return scores

    # Off-diagonal blocks, through the reference point r = last position of the column's sub-chunk.
    G_ref = G_blk[..., -1, :]  # (..., n, K), one per column sub-chunk
    later = torch.arange(C, device=a.device)[None, :] // s > torch.arange(n, device=a.device)[:, None]  # (n, C)
    row_log = (G[..., None, :, :] - G_ref[..., :, None, :]).masked_fill(~later[..., None], float("-inf"))
    a_scaled = a[..., None, :, :] * row_log.exp()  # (..., n, C, K): row t decayed down to column block's r
    b_scaled = b_blk * (G_ref[..., :, None, :] - G_blk).exp()  # (..., n, s, K): column j decayed up to r
    off = a_scaled @ b_scaled.transpose(-1, -2)  # (..., n, C, s): [column block, row t, column j]
    return scores + off.movedim(-3, -2).flatten(-2, -1)
