"""Triton kernel for the last step of the delta rule's intra-chunk forward as its own launch: the WY outputs
U0 = Ainv (beta v) and W = Ainv (beta k e^G) of every chunk, from the chunk's stored inverse Ainv.

`triton_intra_fwd.py` computes them at the end of its one program per chunk ("pass 2"), after the scores and the
solve. That program holds ~250 registers, so two run per SM, and its pass 2 waits on each block's loads in turn: an
ablation on an H200 (K = V = 128, C = 64, tf32) put pass 2 at 0.13 ms of the GDN kernel's 0.69 at B=4, T=4096 and
0.54 of 1.43 at B=1, T=32768 (KDA 0.15 / 0.48), against ~0.05 / ~0.1 ms of memory traffic. Here one small program
per (chunk, output block) does one product each, at high occupancy: the blocks of a chunk are adjacent in the flat
grid, so their reads of Ainv (float32, C x C) mostly hit L2. The blocks are the head-dim tiles of
`triton_intra_fwd._tile`, and the products the same tl.dot at the same precision on the same operands, so the
outputs equal the fused kernel's.

`intra_chunk_fwd(..., split_wu=True)` runs the intra forward without its pass 2, then this. It is off by default
until timed on the GPU against the fused pass 2 (`SPLIT_WU` in `triton_intra_fwd.py`).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _intra_wu_kernel(
    KEY, VAL, G, BETA, AINV,  # inputs (B, T, H, .) with any strides; AINV float32 (B, H, N, C, C)
    U0, W,  # outputs (B, H, N, C, .): U0 float32, W float32 or float16
    U0_AMAX,  # float32 (1,), max |U0| accumulated by atomic max when STORE_AMAX
    T, H,
    sk_b, sk_t, sk_h, sk_d, sv_b, sv_t, sv_h, sv_d, sg_b, sg_t, sg_h, sg_d, sb_b, sb_t, sb_h,
    C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    PER_CHANNEL: tl.constexpr, PREC: tl.constexpr, STORE_AMAX: tl.constexpr,
):
    NV: tl.constexpr = (V + BV - 1) // BV
    NB: tl.constexpr = NV + (K + BK - 1) // BK  # output blocks per chunk: U0's, then W's
    pid, i_bh = tl.program_id(0), tl.program_id(1)
    i_n, i_blk = pid // NB, pid % NB
    i_b, i_h = (i_bh // H).to(tl.int64), (i_bh % H).to(tl.int64)
    t0 = i_n.to(tl.int64) * C
    chunk = i_bh.to(tl.int64) * (tl.num_programs(0) // NB) + i_n  # index into the (B, H, N) chunk grid

    rc = tl.arange(0, C)
    mt = rc < T - t0  # the tail chunk's padding rows: zero inputs, so zero outputs
    Ainv = tl.load(AINV + chunk * C * C + rc[:, None] * C + rc[None, :])
    beta = tl.load(BETA + i_b * sb_b + i_h * sb_h + (t0 + rc) * sb_t, mask=mt, other=0.0).to(tl.float32)
    if i_blk < NV:
        rv = i_blk * BV + tl.arange(0, BV)
        mv = rv < V
        v = tl.load(VAL + i_b * sv_b + i_h * sv_h + (t0 + rc)[:, None] * sv_t + rv[None, :] * sv_d,
                    mask=mt[:, None] & mv[None, :], other=0.0).to(tl.float32)  # (C, BV)
        u0 = tl.dot(Ainv, v * beta[:, None], input_precision=PREC)
        tl.store(U0 + chunk * C * V + rc[:, None] * V + rv[None, :], u0, mask=mv[None, :])
        if STORE_AMAX:
            tl.atomic_max(U0_AMAX, tl.max(tl.max(tl.abs(u0), 1), 0))
    else:
        rk = (i_blk - NV) * BK + tl.arange(0, BK)
        mk = rk < K
        m_ck = mt[:, None] & mk[None, :]
        k = tl.load(KEY + i_b * sk_b + i_h * sk_h + (t0 + rc)[:, None] * sk_t + rk[None, :] * sk_d, mask=m_ck,
                    other=0.0).to(tl.float32)  # (C, BK)
        g_base = G + i_b * sg_b + i_h * sg_h + t0 * sg_t
        if PER_CHANNEL:
            g = tl.load(g_base + rc[:, None] * sg_t + rk[None, :] * sg_d, mask=m_ck, other=0.0).to(tl.float32)
            k_in = k * tl.exp(tl.cumsum(g, 0)) * beta[:, None]
        else:
            Gh = tl.cumsum(tl.load(g_base + rc * sg_t, mask=mt, other=0.0).to(tl.float32), 0)
            k_in = k * (tl.exp(Gh) * beta)[:, None]
        w = tl.dot(Ainv, k_in, input_precision=PREC)
        tl.store(W + chunk * C * K + rc[:, None] * K + rk[None, :], w.to(W.dtype.element_ty), mask=mk[None, :])


def intra_wu(k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta: torch.Tensor, Ainv: torch.Tensor,
             U0: torch.Tensor, W: torch.Tensor, precision: str, BK: int, BV: int,
             u0_amax: torch.Tensor | None = None) -> None:
    """Fill U0 (B, H, N, C, V) and W (B, H, N, C, K) from Ainv (B, H, N, C, C) float32 and the intra forward's
    inputs k (B, T, H, K), v, g (B, T, H, 1 | K), beta (B, T, H), in place; BK, BV the head-dim tiles; max |U0|
    into u0_amax by atomic max, when given."""
    B, T, H, K = k.shape
    V, D = v.shape[-1], g.shape[-1]
    N, C = Ainv.shape[2], Ainv.shape[3]
    blocks = triton.cdiv(V, BV) + triton.cdiv(K, BK)
    g_strides = (*g.stride()[:3], g.stride(3) if D > 1 else 0)
    _intra_wu_kernel[(N * blocks, B * H)](
        k, v, g, beta, Ainv, U0, W, U0 if u0_amax is None else u0_amax, T, H, *k.stride(), *v.stride(), *g_strides,
        *beta.stride(), C=C, K=K, V=V, BK=BK, BV=BV, PER_CHANNEL=D > 1, PREC=precision,
        STORE_AMAX=u0_amax is not None, num_warps=4, num_stages=1)
