"""Triton kernel for the last step of the delta rule's intra-chunk forward as its own launch: the WY outputs
U0 = Ainv (beta v) and W = Ainv (beta k e^G) of every chunk, from the chunk's stored inverse Ainv.

`intra_wy_fwd.py` can compute them at the end of its program per chunk ("pass 2"); as their own launch they free
that kernel's registers (`LaunchConfig.split_wu`, the default; record:
benchmarks/results/*_kernel-launch-choices_h200.md, "U0 / W launch").
A small program per chunk reads Ainv once; both run the same code, `wy_outputs`, on the head-dim tiles of
`intra_wy_fwd._tile`, so the outputs are equal.

With NORM (k L2-normalised by the intra kernel, `utils/l2norm_rows_triton.py`)
k's rows are multiplied by the factors that kernel stored (KROW), to the same float16 values it used.
Its products stay tf32: float16 would need a scale per tile for unnormalised v.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.l2norm_rows_triton import load_rows


@triton.jit
def wy_outputs(Ainv, beta, head_decay, v_base, sv_t, sv_d, k_base, sk_t, sk_d, r_k, g_base, sg_t, sg_d, rc, mt,
               U0, W, U0_AMAX, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
               PER_CHANNEL: tl.constexpr, PREC: tl.constexpr, STORE_AMAX: tl.constexpr, NORM: tl.constexpr):
    """U0 = Ainv (beta v) and W = Ainv (beta k e^G) of one chunk, head-dim block by block, stored at U0 (C, V) and
    W (C, K), the chunk's rows; max |U0| into U0_AMAX by atomic max with STORE_AMAX. Rows rc past the sequence (mt
    False) read as zeros. head_decay: e^G beta per row, with one decay per head; per channel G is the cumsum of g.
    With NORM, k's rows are times r_k, rounded to float16 (`l2norm_rows_triton.load_rows`)."""
    u0_amax = 0.0
    for i_v in range(tl.cdiv(V, BV)):
        rv = i_v * BV + tl.arange(0, BV)
        mv = rv < V
        v = tl.load(v_base + rc[:, None] * sv_t + rv[None, :] * sv_d, mask=mt[:, None] & mv[None, :],
                    other=0.0).to(tl.float32)  # (C, BV)
        u0 = tl.dot(Ainv, v * beta[:, None], input_precision=PREC)
        tl.store(U0 + rc[:, None] * V + rv[None, :], u0, mask=mv[None, :])
        if STORE_AMAX:
            u0_amax = tl.maximum(u0_amax, tl.max(tl.max(tl.abs(u0), 1), 0))
    if STORE_AMAX:
        tl.atomic_max(U0_AMAX, u0_amax)
    for i_k in range(tl.cdiv(K, BK)):
        rk = i_k * BK + tl.arange(0, BK)
        mk = rk < K
        m_ck = mt[:, None] & mk[None, :]
        k = load_rows(k_base, sk_t, sk_d, rc, rk, m_ck, r_k, NORM).to(tl.float32)  # (C, BK)
        if PER_CHANNEL:
            g = tl.load(g_base + rc[:, None] * sg_t + rk[None, :] * sg_d, mask=m_ck, other=0.0).to(tl.float32)
            k_in = k * tl.exp(tl.cumsum(g, 0)) * beta[:, None]
        else:
            k_in = k * head_decay[:, None]
        w = tl.dot(Ainv, k_in, input_precision=PREC)
        tl.store(W + rc[:, None] * K + rk[None, :], w.to(W.dtype.element_ty), mask=mk[None, :])


@triton.jit
def _intra_wu_kernel(
    KEY, VAL, G, BETA, AINV,  # inputs (B, T, H, .) with any strides; AINV float32 (B, H, N, C, C)
    KROW,  # float32 (B, H, N, C): k's row factors with NORM
    U0, W,  # outputs (B, H, N, C, .): U0 float32, W float32 or float16
    U0_AMAX,  # float32 (1,), max |U0| accumulated by atomic max when STORE_AMAX
    T, H,
    sk_b, sk_t, sk_h, sk_d, sv_b, sv_t, sv_h, sv_d, sg_b, sg_t, sg_h, sg_d, sb_b, sb_t, sb_h,
    C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    PER_CHANNEL: tl.constexpr, PREC: tl.constexpr, STORE_AMAX: tl.constexpr, NORM: tl.constexpr,
):
    i_n, i_bh = tl.program_id(0), tl.program_id(1)
    i_b, i_h = (i_bh // H).to(tl.int64), (i_bh % H).to(tl.int64)
    t0 = i_n.to(tl.int64) * C
    chunk = i_bh.to(tl.int64) * tl.num_programs(0) + i_n  # index into the (B, H, N) chunk grid

    rc = tl.arange(0, C)
    mt = rc < T - t0  # the tail chunk's padding rows: zero inputs, so zero outputs
    Ainv = tl.load(AINV + chunk * C * C + rc[:, None] * C + rc[None, :])
    beta = tl.load(BETA + i_b * sb_b + i_h * sb_h + (t0 + rc) * sb_t, mask=mt, other=0.0).to(tl.float32)
    g_base = G + i_b * sg_b + i_h * sg_h + t0 * sg_t
    r_k, head_decay = beta, beta  # (unused without NORM / per channel)
    if NORM:
        r_k = tl.load(KROW + chunk * C + rc)
    if not PER_CHANNEL:
        head_decay = tl.exp(tl.cumsum(tl.load(g_base + rc * sg_t, mask=mt, other=0.0).to(tl.float32), 0)) * beta
    wy_outputs(Ainv, beta, head_decay, VAL + i_b * sv_b + i_h * sv_h + t0 * sv_t, sv_t, sv_d,
               KEY + i_b * sk_b + i_h * sk_h + t0 * sk_t, sk_t, sk_d, r_k, g_base, sg_t, sg_d, rc, mt,
               U0 + chunk * C * V, W + chunk * C * K, U0_AMAX, K, V, BK, BV, PER_CHANNEL, PREC, STORE_AMAX, NORM)


def intra_wu(k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta: torch.Tensor, Ainv: torch.Tensor,
             U0: torch.Tensor, W: torch.Tensor, precision: str, BK: int, BV: int,
             u0_amax: torch.Tensor | None = None, k_rows: torch.Tensor | None = None, stages: int = 1) -> None:
    """Fill U0 (B, H, N, C, V) and W (B, H, N, C, K) from Ainv (B, H, N, C, C) float32 and the intra forward's
    inputs k (B, T, H, K), v, g (B, T, H, 1 | K), beta (B, T, H), in place; BK, BV the head-dim tiles; max |U0|
    into u0_amax by atomic max, when given. k_rows (B, H, N, C) float32: k as it comes, its rows multiplied by these
    (the intra kernel's L2-norm factors) and rounded to float16 first."""
    B, T, H, K = k.shape
    V, D = v.shape[-1], g.shape[-1]
    N, C = Ainv.shape[2], Ainv.shape[3]
    g_strides = (*g.stride()[:3], g.stride(3) if D > 1 else 0)
    _intra_wu_kernel[(N, B * H)](
        k, v, g, beta, Ainv, Ainv if k_rows is None else k_rows, U0, W, U0 if u0_amax is None else u0_amax, T, H,
        *k.stride(), *v.stride(), *g_strides, *beta.stride(), C=C, K=K, V=V, BK=BK, BV=BV, PER_CHANNEL=D > 1,
        PREC=precision, STORE_AMAX=u0_amax is not None, NORM=k_rows is not None, num_warps=4, num_stages=stages)
