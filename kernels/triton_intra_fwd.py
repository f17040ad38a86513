"""Fused Triton forward of the delta rule's chunk-parallel part: one program per (chunk, batch * head).

It computes, for one chunk of C tokens, everything `delta_rule/chunk.py: intra_chunk` builds with batched PyTorch:
the causal decayed scores qk (j <= t) and kk (j < t), the unit-lower-triangular inverse Ainv = (I + beta kk)^-1
(the WY/UT transform), U0 = Ainv (beta v), W = Ainv (beta k e^G), and the decayed keys, queries and chunk decay
that the chunk-state kernel (`triton_chunk_state.py`) consumes. Inputs are read in place from the (B, T, H, .)
layout with their strides (any float dtype); everything is computed and stored in float32, chunked (B, H, N, C, .).

Numerics: every exponent is a difference G_later - G_earlier <= 0 of cumulative log decays, masked before exp.
With per-channel decay the scores do not factor. When every channel's cumulative log decay stays within SAFE_SPAN
(60) of its value at the chunk's middle row m (the common case: |g| up to ~1.8 per step), both factors of
e^{G_t - G_j} = e^{G_t - G_m} e^{G_m - G_j} lie in [e^-60, e^60], far inside float32's range, so the whole (C, C)
matrix is one tl.dot per K-block, (q e^{G - G_m}) (k e^{G_m - G})^T, masked afterwards like the per-head case.
Otherwise (checked per chunk and K-block, at run time) the exact path builds it from 16-token sub-blocks:
  - an off-diagonal column block jb goes through its last row r = 16 jb + 15 as one tl.dot,
    (q e^{G - G_r}) (k e^{G_r - G})^T, rows t > r and columns j in block jb, both factors in [0, 1];
  - the 16 x 16 diagonal blocks are explicit: a loop over the column m inside each block, all blocks at once,
    with the decay sum_{i=j+1..t} g_i grown one gathered row of g at a time (no cumsum difference at all).
With one decay per head it factors out: scores = (q k^T) * exp(G_t - G_j), masked to j <= t before the exp.

The solve: D^-1 for the block-diagonal part D of I + A (its 16 x 16 diagonal blocks) by forward substitution on
4 x 4 blocks merged into 16 x 16 ones (`_diagonal_block_inverse`); with E the strictly block-lower rest, N = D^-1 E
is nilpotent (N^{C/16} = 0) and (I + A)^-1 = (I + N)^-1 D^-1 = (I - N)(I + N^2) D^-1 for C = 64 ((I - N) D^-1 for
32): four tl.dot in all, at the products' precision. In tf32 (bf16 / fp16 inputs) that costs Ainv ~1e-3 relative
error at worst (near-parallel keys, beta near 1, no decay; measured on an H200), below the input rounding and the
tf32 error of U0 = Ainv (beta v) itself; tf32x3 would make it ~1e-7 but spills registers at C = 64.

Head dims are tiled in blocks of BK (BV) columns: the scores accumulate over K-blocks, then a second pass computes
W (recomputing the cheap cumsum) and U0 per block, so a 256 head dim never needs a 256-wide register tile.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.triton_intra_wu import intra_wu
from kernels.triton_support import block, dot_precision

CHUNK_SIZES = (16, 32, 64)
SUB = tl.constexpr(16)  # sub-block of the scores and the solve, tl.dot's smallest tile (constexpr: read in kernels)
SAFE_SPAN = tl.constexpr(60.0)  # fast path: |G_t - G_middle| <= 60 in a chunk keeps every factor e^x below 1.2e26


@triton.jit
def _channel_scores_exact(qk, kk, q, k, Gc, g_base, k_base, rk, mk, rc, sub_start, sub_row, n_valid,
                          sg_t, sg_d, sk_t, sk_d, C: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
    """Per-channel decayed scores of one K-block added to qk, kk without any factor above 1: the exact path, for
    chunks whose decay spans more than SAFE_SPAN (n_valid: the chunk's real tokens)."""
    # Off-diagonal sub-blocks, one column block jb at a time, through its last row r.
    for jb in tl.static_range(C // SUB - 1):
        r = jb * SUB + SUB - 1
        G_r = tl.sum(tl.where(rc[:, None] == r, Gc, 0.0), 0)  # (BK,)
        to_r = tl.exp(tl.where(rc[:, None] > r, Gc - G_r[None, :], float("-inf")))  # rows t > r: e^{G_t-G_r}
        from_r = tl.exp(tl.where((rc // SUB)[:, None] == jb, G_r[None, :] - Gc, float("-inf")))  # j in jb
        k_j = k * from_r
        qk += tl.dot(q * to_r, tl.trans(k_j), input_precision=PREC)
        kk += tl.dot(k * to_r, tl.trans(k_j), input_precision=PREC)

    # Diagonal sub-blocks: column j = sub_start + m of every block at once, m from the block's end down,
    # so that the log decay sum_{i=j+1..t} g_i grows by one gathered row of g per step. A loop, not
    # unrolled: unrolled, the compiler hoists all 31 gathered (C, BK) loads and spills.
    decay_log = tl.zeros([C, BK], dtype=tl.float32)
    for mm in range(SUB):
        m = SUB - 1 - mm
        rg = sub_start + m + 1  # token j + 1 (in the next block for m = 15: masked, the sum stays 0)
        later = sub_row > m
        g_next = tl.load(g_base + rg[:, None] * sg_t + rk[None, :] * sg_d,
                         mask=(later & (rg < n_valid))[:, None] & mk[None, :], other=0.0).to(tl.float32)
        decay_log = tl.where(later[:, None], decay_log + g_next, 0.0)
        rj = sub_start + m  # token j
        k_col = tl.load(k_base + rj[:, None] * sk_t + rk[None, :] * sk_d,
                        mask=(rj < n_valid)[:, None] & mk[None, :], other=0.0).to(tl.float32)  # (C, BK) k_j
        k_col = k_col * tl.where(sub_row[:, None] >= m, tl.exp(decay_log), 0.0)  # exp of 0 where masked
        at_col = rc[None, :] == rj[:, None]  # (C, C) column j of each row's block
        qk += tl.where(at_col, tl.sum(q * k_col, 1)[:, None], 0.0)
        kk += tl.where(at_col, tl.sum(k * k_col, 1)[:, None], 0.0)
    return qk, kk


@triton.jit
def _diagonal_block_inverse(A, rc, same_sub, PREC: tl.constexpr):
    """D^-1 for D = I + (the 16 x 16 diagonal blocks of A), A strictly lower (C, C), in two steps. First forward
    substitution on the 4 x 4 diagonal blocks, all side by side in the (C, C) tile (their columns are disjoint, so
    one row of each is updated per step: 3 steps), gives D4^-1; then, with E4 the rest of each 16 x 16 block below
    its 4 x 4 diagonal, N = D4^-1 E4 is nilpotent (N^4 = 0) and D^-1 = (I + N)^-1 D4^-1 = (I - N)(I + N^2) D4^-1:
    four tl.dot on the whole tile, as the merge of the 16 x 16 blocks does one level up. Substituting the 16 x 16
    blocks directly took 15 steps, each two column sums that cross warps through shared memory; timed on an H200
    (the forward kernel alone, K = V = 128, C = 64, tf32; B=4 T=4096 / B=1 T=32768 ms): GDN 0.69 -> 0.59 /
    1.43 -> 1.10, KDA 0.94 -> 0.86 / 1.84 -> 1.66 (8 x 8 base blocks: GDN 0.68 / 1.23). Error of Ainv against the
    float64 inverse (RMSE / RMS, near-parallel keys, beta 0.99, no decay; the worst case of the tf32 merges):
    9.8e-4 -> 1.1e-3; random keys 4.3e-6 -> 9.6e-6."""
    same4 = (rc // 4)[:, None] == (rc // 4)[None, :]
    X = tl.where(same4, -A, 0.0)  # becomes D4^-1 - I
    for i in tl.static_range(1, 4):
        rows = ((rc % 4) == i)[:, None]
        a = tl.sum(tl.where(rows, X, 0.0), 0)  # (C,) row i of every 4 x 4 block, side by side
        a += tl.sum(a[:, None] * X, 0)  # rows < i of each block are final: X_t = -A_t - A_t X
        X = tl.where(rows & same4, a[None, :], X)
    D4inv = X + tl.where(rc[:, None] == rc[None, :], 1.0, 0.0)
    N = tl.dot(D4inv, tl.where(same_sub, tl.where(same4, 0.0, A), 0.0), input_precision=PREC)  # D4^-1 E4
    Y = D4inv - tl.dot(N, D4inv, input_precision=PREC)
    return Y + tl.dot(tl.dot(N, N, input_precision=PREC), Y, input_precision=PREC)


@triton.jit
def _intra_chunk_fwd_kernel(
    Q, KEY, VAL, G, BETA,  # inputs, (B, T, H, .) with any strides
    U0, W, KEND, DECAY, QDEC, QK, AINV,  # float32 outputs (W, KEND, QDEC, QK float16 if compact), (B, H, N, C, .)
    U0_AMAX,  # float32 (1,), max |U0| accumulated by atomic max when STORE_AMAX
    T, H,
    sq_b, sq_t, sq_h, sq_d, sk_b, sk_t, sk_h, sk_d, sv_b, sv_t, sv_h, sv_d, sg_b, sg_t, sg_h, sg_d, sb_b, sb_t, sb_h,
    C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    PER_CHANNEL: tl.constexpr, PREC: tl.constexpr, PASS2: tl.constexpr, STORE_AMAX: tl.constexpr,
    STORE_AINV: tl.constexpr,
):
    i_n, i_bh = tl.program_id(0), tl.program_id(1)
    i_b, i_h = (i_bh // H).to(tl.int64), (i_bh % H).to(tl.int64)
    t0 = i_n.to(tl.int64) * C  # first token of the chunk
    chunk = i_bh.to(tl.int64) * tl.num_programs(0) + i_n  # index into the (B, H, N) output grid
    # 64-bit arithmetic once, on the chunk's base pointers; 32-bit offsets inside the chunk
    q_base = Q + i_b * sq_b + i_h * sq_h + t0 * sq_t
    k_base = KEY + i_b * sk_b + i_h * sk_h + t0 * sk_t
    v_base = VAL + i_b * sv_b + i_h * sv_h + t0 * sv_t
    g_base = G + i_b * sg_b + i_h * sg_h + t0 * sg_t
    U0 += chunk * C * V
    W += chunk * C * K
    KEND += chunk * C * K
    QDEC += chunk * C * K
    QK += chunk * C * C
    AINV += chunk * C * C

    rc = tl.arange(0, C)  # row (token) inside the chunk
    mt = rc < T - t0  # the tail chunk is zero-padded: inert (q = k = v = g = beta = 0)
    sub_start = (rc // SUB) * SUB  # first row of each row's diagonal sub-block
    sub_row = rc % SUB  # row inside it
    cc_off = rc[:, None] * C + rc[None, :]
    causal = rc[None, :] <= rc[:, None]  # (C, C) j <= t

    beta = tl.load(BETA + i_b * sb_b + i_h * sb_h + (t0 + rc) * sb_t, mask=mt, other=0.0).to(tl.float32)  # (C,)
    if not PER_CHANNEL:
        Gh = tl.cumsum(tl.load(g_base + rc * sg_t, mask=mt, other=0.0).to(tl.float32), 0)  # (C,) per-head
        Gh_last = tl.sum(tl.where(rc == C - 1, Gh, 0.0), 0)
        tl.store(DECAY + chunk, tl.exp(Gh_last))

    # ---- pass 1: decayed scores, accumulated over K-blocks; q e^G, k e^{G_C - G}, e^{G_C} stored on the way
    qk = tl.zeros([C, C], dtype=tl.float32)
    kk = tl.zeros([C, C], dtype=tl.float32)
    for i_k in range(tl.cdiv(K, BK)):
        rk = i_k * BK + tl.arange(0, BK)
        mk = rk < K
        m_ck = mt[:, None] & mk[None, :]
        ck_off = rc[:, None] * K + rk[None, :]
        q = tl.load(q_base + rc[:, None] * sq_t + rk[None, :] * sq_d, mask=m_ck, other=0.0).to(tl.float32)  # (C, BK)
        k = tl.load(k_base + rc[:, None] * sk_t + rk[None, :] * sk_d, mask=m_ck, other=0.0).to(tl.float32)
        if PER_CHANNEL:
            g = tl.load(g_base + rc[:, None] * sg_t + rk[None, :] * sg_d, mask=m_ck, other=0.0).to(tl.float32)
            Gc = tl.cumsum(g, 0)  # (C, BK) log decay since the chunk start
            G_last = tl.sum(tl.where(rc[:, None] == C - 1, Gc, 0.0), 0)  # (BK,)
            tl.store(QDEC + ck_off, (q * tl.exp(Gc)).to(QDEC.dtype.element_ty), mask=mk[None, :])
            tl.store(KEND + ck_off, (k * tl.exp(G_last[None, :] - Gc)).to(KEND.dtype.element_ty), mask=mk[None, :])
            tl.store(DECAY + chunk * K + rk, tl.exp(G_last), mask=mk)

            # Fast path, when no channel's log decay strays more than SAFE_SPAN from the chunk's middle row m:
            # e^{G_t - G_j} = e^{G_t - G_m} e^{G_m - G_j}, both factors within e^{+-SAFE_SPAN}, one tl.dot each.
            G_m = tl.sum(tl.where(rc[:, None] == C // 2, Gc, 0.0), 0)  # (BK,)
            rel = Gc - G_m[None, :]  # (C, BK)
            if tl.max(tl.max(tl.abs(rel), 1), 0) <= SAFE_SPAN:
                k_m = k * tl.exp(-rel)
                qk += tl.dot(q * tl.exp(rel), tl.trans(k_m), input_precision=PREC)
                kk += tl.dot(k * tl.exp(rel), tl.trans(k_m), input_precision=PREC)
            else:
                qk, kk = _channel_scores_exact(qk, kk, q, k, Gc, g_base, k_base, rk, mk, rc, sub_start, sub_row, T - t0,
                                               sg_t, sg_d, sk_t, sk_d, C, BK, PREC)
        else:
            e_G = tl.exp(Gh)
            tl.store(QDEC + ck_off, (q * e_G[:, None]).to(QDEC.dtype.element_ty), mask=mk[None, :])
            tl.store(KEND + ck_off, (k * tl.exp(Gh_last - Gh)[:, None]).to(KEND.dtype.element_ty),
                     mask=mk[None, :])
            qk += tl.dot(q, tl.trans(k), input_precision=PREC)
            kk += tl.dot(k, tl.trans(k), input_precision=PREC)
    if not PER_CHANNEL:
        decay = tl.exp(tl.where(causal, Gh[:, None] - Gh[None, :], float("-inf")))  # (C, C)
        qk *= decay
        kk *= decay
    tl.store(QK + cc_off, tl.where(causal, qk, 0.0).to(QK.dtype.element_ty))

    # ---- the solve: Ainv = (I + A)^-1, A = beta kk strictly below the diagonal
    A = tl.where(rc[None, :] < rc[:, None], kk * beta[:, None], 0.0)  # (C, C)
    same_sub = (rc // SUB)[:, None] == (rc // SUB)[None, :]
    Ainv = _diagonal_block_inverse(A, rc, same_sub, PREC)  # D^-1
    if C > SUB:
        N = tl.dot(Ainv, tl.where(same_sub, 0.0, A), input_precision=PREC)  # D^-1 E, strictly block-lower
        Y = Ainv - tl.dot(N, Ainv, input_precision=PREC)  # (I - N) D^-1: exact for two blocks
        if C > 2 * SUB:
            N2 = tl.dot(N, N, input_precision=PREC)  # N^4 = 0 for four blocks
            Y += tl.dot(N2, Y, input_precision=PREC)
        Ainv = Y
    if STORE_AINV:  # for the backward, or for `triton_intra_wu.py`
        tl.store(AINV + cc_off, Ainv)

    # ---- pass 2: U0 = Ainv (beta v) and W = Ainv (beta k e^G), block by block (unless `triton_intra_wu.py` will)
    u0_amax = 0.0
    for i_v in range(tl.cdiv(V, BV) if PASS2 else 0):
        rv = i_v * BV + tl.arange(0, BV)
        mv = rv < V
        v = tl.load(v_base + rc[:, None] * sv_t + rv[None, :] * sv_d, mask=mt[:, None] & mv[None, :],
                    other=0.0).to(tl.float32)  # (C, BV)
        u0 = tl.dot(Ainv, v * beta[:, None], input_precision=PREC)
        tl.store(U0 + rc[:, None] * V + rv[None, :], u0, mask=mv[None, :])
        if STORE_AMAX:
            u0_amax = tl.maximum(u0_amax, tl.max(tl.max(tl.abs(u0), 1), 0))
    if STORE_AMAX and PASS2:
        tl.atomic_max(U0_AMAX, u0_amax)
    for i_k in range(tl.cdiv(K, BK) if PASS2 else 0):
        rk = i_k * BK + tl.arange(0, BK)
        mk = rk < K
        m_ck = mt[:, None] & mk[None, :]
        k = tl.load(k_base + rc[:, None] * sk_t + rk[None, :] * sk_d, mask=m_ck, other=0.0).to(tl.float32)
        if PER_CHANNEL:
            g = tl.load(g_base + rc[:, None] * sg_t + rk[None, :] * sg_d, mask=m_ck, other=0.0).to(tl.float32)
            k_in = k * tl.exp(tl.cumsum(g, 0)) * beta[:, None]
        else:
            k_in = k * (tl.exp(Gh) * beta)[:, None]
        w = tl.dot(Ainv, k_in, input_precision=PREC)
        tl.store(W + rc[:, None] * K + rk[None, :], w.to(W.dtype.element_ty), mask=mk[None, :])


def _check(chunk_size: int, q: torch.Tensor, g: torch.Tensor) -> None:
    if chunk_size not in CHUNK_SIZES:
        raise ValueError(f"intra_chunk_fwd: chunk_size must be one of {CHUNK_SIZES}, got {chunk_size}")
    if g.shape[-1] not in (1, q.shape[-1]):
        raise ValueError(f"intra_chunk_fwd: g's last dim must be 1 (per head) or K={q.shape[-1]} (per channel), "
                         f"got {g.shape[-1]}")


def _tile(n: int) -> int:
    # Head-dim block, 32 wide. Compiled offline for sm_90 with Triton 3.6 (the GPU image's; bf16 inputs, tf32,
    # K = V = 128 or 256): C = 64 at 4 warps takes 255 registers and spills 280 bytes per thread for KDA (none for
    # GDN), C = 32 at 4 warps 236 registers and no spill; "ieee" products (fp32 models, FMA dots) at 8 warps spill
    # 1352 bytes (648 before the 4 x 4-base solve). (Spills are ptxas' STACK figure; an earlier check of these
    # kernels read LOCAL, which stays 0, and called them spill-free.) Warps, timed on an H200 (KDA, B=4, T=4096,
    # C=64, tf32, the solve in a load layout): 4 warps 0.91 ms, 8 warps 1.76 ms, BK = BV = 64 at 4 warps 0.95 ms;
    # ieee keeps 8 warps at C = 64 (9.1 ms vs 10.6 ms with 4, before the fast path).
    return min(block(n), 32)


SPLIT_WU = False
"""Default of intra_chunk_fwd's split_wu: U0 and W by their own launch (`triton_intra_wu.py`). Off: on an H200
(`benchmarks/launch_variants.py`, 2026-12-04, B*T = 16k-32k tokens, H=16, K=V=128) the intra forward alone took
GDN 0.59-0.62 ms split vs 0.56-0.60 fused, KDA 0.81-0.87 vs 0.86-0.92 (B=1 T=32768: 1.57 vs 1.65); the whole
forward moved within run-to-run noise and GDN's forward+backward was 0.1-0.2 ms slower split."""
MAXNREG: int | None = None
"""Default of intra_chunk_fwd's maxnreg: a register cap for the forward kernel (None: the compiler's choice, 249-255
at C = 64). Compiled offline for sm_90 (Triton 3.6, K = V = 128, tf32): GDN at 168 spills 16 bytes per thread, or
none without pass 2 (split_wu), which would let three programs share an SM instead of two; KDA spills 592 / 688.
In the whole op on an H200 (2026-12-04, fused / split, with and without 168) forward and forward+backward stayed
within run-to-run noise (~10%); `benchmarks/launch_variants.py` (variants r168, wu+r168) is the A/B."""


def intra_chunk_fwd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta: torch.Tensor,
                    chunk_size: int, precision: str | None = None, compact: bool = False,
                    split_wu: bool | None = None, maxnreg: int | None = None,
                    u0_amax: torch.Tensor | None = None, store_ainv: bool = True) -> tuple[torch.Tensor, ...]:
    """q, k: (B, T, H, K) (q already scaled); v: (B, T, H, V); g: (B, T, H, D), D in {1, K}, log decay (zeros for
    DeltaNet); beta: (B, T, H). Returns float32 (U0 (B,H,N,C,V), W (B,H,N,C,K), k_to_end (B,H,N,C,K),
    decay_chunk (B,H,N,D), q_decayed (B,H,N,C,K), qk (B,H,N,C,C), Ainv (B,H,N,C,C)), N = ceil(T / C).

    `precision` is tl.dot's input precision for the score and output products (default: `dot_precision` of the
    input dtype; pass the model's when the inputs were upcast to float32), the solve's included.
    `compact`: W, k_to_end, q_decayed and qk in float16 instead (half the bytes for the chunk-state walk, which reads
    them once per value block, and which rounds qk to float16 for its products anyway). float16 keeps tf32's 10-bit
    mantissa, so for tf32 products nothing is lost beyond one more rounding; its range (6e-5 normal, 65504 max)
    suits unit-norm q and k, whose decayed entries, scores and W's stay below 1 in magnitude, and costs only entries
    too small to matter. Use it only with L2-normalised q, k.
    `u0_amax`: a zeroed float32 (1,) tensor the kernels leave max |U0| in (atomic max; the walk's float16 scale),
    saving a pass over U0.
    `store_ainv`: False leaves Ainv unwritten (None is returned in its place) where no backward will read it.
    `split_wu`: U0 and W by a second launch from the stored Ainv (`triton_intra_wu.py`; same values); None: SPLIT_WU.
    `maxnreg`: register cap of the forward kernel on CUDA (ignored by the interpreter); None: MAXNREG.
    """
    _check(chunk_size, q, g)
    B, T, H, K = q.shape
    V, D, C = v.shape[-1], g.shape[-1], chunk_size
    N = triton.cdiv(T, C)
    precision = precision or dot_precision(q.dtype)

    def out(*shape):
        return torch.empty(B, H, N, *shape, dtype=torch.float32, device=q.device)

    def out16(*shape):
        return torch.empty(B, H, N, *shape, dtype=torch.float16 if compact else torch.float32, device=q.device)

    split = SPLIT_WU if split_wu is None else split_wu
    store_ainv = store_ainv or split  # the split launch reads it
    U0, W, k_to_end, decay_chunk, q_decayed, qk = out(C, V), out16(C, K), out16(C, K), out(D), out16(C, K), out16(C, C)
    Ainv = out(C, C) if store_ainv else None
    g_strides = (*g.stride()[:3], g.stride(3) if D > 1 else 0)
    maxnreg = MAXNREG if maxnreg is None else maxnreg
    cap = {"maxnreg": maxnreg} if maxnreg and q.device.type == "cuda" else {}
    _intra_chunk_fwd_kernel[(N, B * H)](
        q, k, v, g, beta, U0, W, k_to_end, decay_chunk, q_decayed, qk, U0 if Ainv is None else Ainv,
        U0 if u0_amax is None else u0_amax, T, H,
        *q.stride(), *k.stride(), *v.stride(), *g_strides, *beta.stride(),
        C=C, K=K, V=V, BK=_tile(K), BV=_tile(V), PER_CHANNEL=D > 1, PREC=precision, PASS2=not split,
        STORE_AMAX=u0_amax is not None, STORE_AINV=store_ainv,
        num_warps=8 if C == 64 and precision == "ieee" else 4, num_stages=1, **cap)
    if split:
        intra_wu(k, v, g, beta, Ainv, U0, W, precision, _tile(K), _tile(V), u0_amax)
    return U0, W, k_to_end, decay_chunk, q_decayed, qk, Ainv
