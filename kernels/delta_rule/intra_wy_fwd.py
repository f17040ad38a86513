"""Fused Triton forward of the delta rule's chunk-parallel part: one program per (chunk, batch * head).

It computes, for one chunk of C tokens, everything `delta_rule/chunk.py: intra_chunk` builds with batched PyTorch:
the causal decayed scores qk (j <= t) and kk (j < t), the unit-lower-triangular inverse Ainv = (I + beta kk)^-1
(the WY/UT transform), U0 = Ainv (beta v), W = Ainv (beta k e^G), and the decayed keys, queries and chunk decay
that the chunk-state kernel (`common/chunk_state.py`) consumes. Inputs are read in place from the (B, T, H, .)
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

The solve (`_block_inverse`): A = beta kk goes to the chunk's Ainv rows in memory and is inverted there by 16 x 16
blocks (forward substitution on the diagonal blocks, block substitution below them), the block products at the
products' precision (tf32 for bf16 / fp16 inputs). With one decay per head, A is built and stored first
and the scores after (`_head_scores`), so one (C, C) accumulator is live at a time, and float16 q, k (the L2 norm's
output without a backward, or normalised here: `norm_q_scale`) go into the tensor cores as they are.

Head dims are tiled in blocks of BK (BV) columns: the scores accumulate over K-blocks, then a second pass computes
W (recomputing the cheap cumsum) and U0 per block, so a 256 head dim never needs a 256-wide register tile.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.delta_rule.intra_wy_u0_w import intra_wu, wy_outputs
from kernels.utils.l2norm import EPS
from kernels.utils.l2norm_rows_triton import load_rows, row_norms
from kernels.utils.launch import DEFAULT_LAUNCH, LaunchConfig
from kernels.utils.triton_support import block, cdiv, dot_precision

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
def _block(AINV, i: tl.constexpr, j: tl.constexpr, C: tl.constexpr):
    """Pointers to the 16 x 16 block (i, j) of one chunk's (C, C) matrix."""
    r = tl.arange(0, SUB)
    return AINV + (i * SUB + r[:, None]) * C + j * SUB + r[None, :]


@triton.jit
def _block_inverse(AINV, rc, C: tl.constexpr, PREC: tl.constexpr):
    """(I + A)^-1 in place of one chunk's (C, C) strictly lower A in AINV, by 16 x 16 blocks; returns it as a
    (C, C) tile. Each diagonal block is inverted by forward substitution (all C / 16 side by side in a
    (C / 16, 16, 16) tile, one row a step), then the blocks below, in order, by block forward substitution,
    Ai_ij = -Ai_ii sum_{j<=m<i} A_im Ai_mj (Ai_ij takes A_ij's place, which later j of the row no longer read). The
    barriers order each block's reads before its overwrite and its stores before the next block's reads.

    16 x 16 blocks keep the program near 80 registers where a whole (C, C) tile held ~250, and were faster
    (record: benchmarks/results/*_kernel-launch-choices_h200.md, "The solve")."""
    NB: tl.constexpr = C // SUB
    rb, r = tl.arange(0, NB), tl.arange(0, SUB)
    diag = AINV + rb[:, None, None] * (SUB * C + SUB)  # (NB, 1, 1) each diagonal block's first entry
    tl.debug_barrier()
    X = tl.zeros([NB, SUB, SUB], dtype=tl.float32)  # becomes Ai - I of every diagonal block
    for i in range(1, SUB):
        a = -tl.load(diag + i * C + r[None, None, :], mask=(r < i)[None, None, :], other=0.0)  # (NB, 1, 16) row i
        a += tl.sum(tl.trans(a, 0, 2, 1) * X, 1, keep_dims=True)  # rows < i are final: X_i = -A_i - A_i X
        X = tl.where((r == i)[None, :, None], a, X)
    eye = tl.where(r[:, None] == r[None, :], 1.0, 0.0)
    tl.store(diag + r[None, :, None] * C + r[None, None, :], X + eye[None, :, :])
    if NB > 1:
        tl.debug_barrier()
        for i in tl.static_range(1, NB):
            ai_ii = tl.load(_block(AINV, i, i, C))
            for j in tl.static_range(i):
                acc = tl.dot(tl.load(_block(AINV, i, j, C)), tl.load(_block(AINV, j, j, C)),
                             input_precision=PREC)
                for m in tl.static_range(j + 1, i):
                    acc += tl.dot(tl.load(_block(AINV, i, m, C)), tl.load(_block(AINV, m, j, C)),
                                  input_precision=PREC)
                tl.debug_barrier()
                tl.store(_block(AINV, i, j, C), -tl.dot(ai_ii, acc, input_precision=PREC))
                tl.debug_barrier()
    tl.debug_barrier()
    return tl.load(AINV + rc[:, None] * C + rc[None, :])


@triton.jit
def _scores(a, b, PREC: tl.constexpr):
    """a b^T, float32: float16 operands straight into the tensor cores (their products are exact in the float32
    accumulator, as tf32's of the same values would be), others as float32 at PREC. (bfloat16 would be as exact,
    but Triton 3.6's interpreter multiplies bfloat16 tiles wrongly, so the CPU tests could not check it.)"""
    if a.dtype == tl.float16 and b.dtype == tl.float16:
        return tl.dot(a, tl.trans(b))
    else:
        return tl.dot(a.to(tl.float32), tl.trans(b.to(tl.float32)), input_precision=PREC)


@triton.jit
def _head_scores(q_base, k_base, sq_t, sq_d, sk_t, sk_d, Gh, Gh_last, beta, rc, mt, QDEC, KEND, QK, AINV, r_q, r_k,
                 C: tl.constexpr, K: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr, NORM: tl.constexpr):
    """Pass 1 with one decay per head (Gh, (C,) cumulative): A = beta (k k^T) e^{G_t - G_j}, j < t, into AINV and
    k e^{G_C - G} into KEND, then the scores (q k^T) e^{G_t - G_j}, j <= t, into QK and q e^G into QDEC: two loops
    over the K-blocks, so that one (C, C) accumulator is live at a time."""
    causal = rc[None, :] <= rc[:, None]
    decay = tl.exp(tl.where(causal, Gh[:, None] - Gh[None, :], float("-inf")))  # (C, C)
    cc_off = rc[:, None] * C + rc[None, :]
    kk = tl.zeros([C, C], dtype=tl.float32)
    for i_k in range(tl.cdiv(K, BK)):
        rk = i_k * BK + tl.arange(0, BK)
        mk = rk < K
        k = load_rows(k_base, sk_t, sk_d, rc, rk, mt[:, None] & mk[None, :], r_k, NORM)
        tl.store(KEND + rc[:, None] * K + rk[None, :],
                 (k.to(tl.float32) * tl.exp(Gh_last - Gh)[:, None]).to(KEND.dtype.element_ty), mask=mk[None, :])
        kk += _scores(k, k, PREC)
    tl.store(AINV + cc_off, tl.where(rc[None, :] < rc[:, None], kk * decay * beta[:, None], 0.0))
    qk = tl.zeros([C, C], dtype=tl.float32)
    for i_k in range(tl.cdiv(K, BK)):
        rk = i_k * BK + tl.arange(0, BK)
        mk = rk < K
        m_ck = mt[:, None] & mk[None, :]
        q = load_rows(q_base, sq_t, sq_d, rc, rk, m_ck, r_q, NORM)
        k = load_rows(k_base, sk_t, sk_d, rc, rk, m_ck, r_k, NORM)
        tl.store(QDEC + rc[:, None] * K + rk[None, :], (q.to(tl.float32) * tl.exp(Gh)[:, None]).to(
            QDEC.dtype.element_ty), mask=mk[None, :])
        qk += _scores(q, k, PREC)
    tl.store(QK + cc_off, tl.where(causal, qk * decay, 0.0).to(QK.dtype.element_ty))


@triton.jit
def _intra_chunk_fwd_kernel(
    Q, KEY, VAL, G, BETA,  # inputs, (B, T, H, .) with any strides
    U0, W, KEND, DECAY, QDEC, QK, AINV,  # float32 outputs (W, KEND, QDEC, QK float16 if compact), (B, H, N, C, .)
    KROW,  # float32 (B, H, N, C): k's L2-norm row factors, stored with NORM and without PASS2 (for the U0 / W launch)
    U0_AMAX,  # float32 (1,), max |U0| accumulated by atomic max when STORE_AMAX
    T, H, q_scale, eps,  # q's scale and the norm's epsilon, with NORM
    sq_b, sq_t, sq_h, sq_d, sk_b, sk_t, sk_h, sk_d, sv_b, sv_t, sv_h, sv_d, sg_b, sg_t, sg_h, sg_d, sb_b, sb_t, sb_h,
    C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    PER_CHANNEL: tl.constexpr, PREC: tl.constexpr, PASS2: tl.constexpr, STORE_AMAX: tl.constexpr,
    NORM: tl.constexpr,
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
    r_q, r_k = beta, beta  # (unused without NORM)
    if NORM:  # q and k L2-normalised here, row by row (per-head decay only)
        r_q = row_norms(q_base, sq_t, sq_d, mt, rc, q_scale, eps, K, BK)
        r_k = row_norms(k_base, sk_t, sk_d, mt, rc, 1.0, eps, K, BK)
        if not PASS2:
            tl.store(KROW + chunk * C + rc, r_k)

    # ---- pass 1: decayed scores qk into QK, and A = beta kk strictly below the diagonal into AINV (the solve's
    # workspace); q e^G, k e^{G_C - G}, e^{G_C} stored on the way
    if PER_CHANNEL:
        qk = tl.zeros([C, C], dtype=tl.float32)
        kk = tl.zeros([C, C], dtype=tl.float32)
        for i_k in range(tl.cdiv(K, BK)):
            rk = i_k * BK + tl.arange(0, BK)
            mk = rk < K
            m_ck = mt[:, None] & mk[None, :]
            ck_off = rc[:, None] * K + rk[None, :]
            q = tl.load(q_base + rc[:, None] * sq_t + rk[None, :] * sq_d, mask=m_ck, other=0.0).to(tl.float32)
            k = tl.load(k_base + rc[:, None] * sk_t + rk[None, :] * sk_d, mask=m_ck, other=0.0).to(tl.float32)
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
                qk, kk = _channel_scores_exact(qk, kk, q, k, Gc, g_base, k_base, rk, mk, rc, sub_start, sub_row,
                                               T - t0, sg_t, sg_d, sk_t, sk_d, C, BK, PREC)
        tl.store(QK + cc_off, tl.where(causal, qk, 0.0).to(QK.dtype.element_ty))
        tl.store(AINV + cc_off, tl.where(rc[None, :] < rc[:, None], kk * beta[:, None], 0.0))
    else:
        _head_scores(q_base, k_base, sq_t, sq_d, sk_t, sk_d, Gh, Gh_last, beta, rc, mt, QDEC, KEND, QK, AINV,
                     r_q, r_k, C, K, BK, PREC, NORM)

    # ---- the solve: Ainv = (I + A)^-1, in place in AINV (for the backward or `delta_rule/intra_wy_u0_w.py`, or
    # scratch)
    Ainv = _block_inverse(AINV, rc, C, PREC)

    # ---- pass 2: U0 = Ainv (beta v) and W = Ainv (beta k e^G), block by block (unless `delta_rule/intra_wy_u0_w.py`
    # will)
    if PASS2:
        head_decay = beta  # (unused per channel)
        if not PER_CHANNEL:
            head_decay = tl.exp(Gh) * beta
        wy_outputs(Ainv, beta, head_decay, v_base, sv_t, sv_d, k_base, sk_t, sk_d, r_k, g_base, sg_t, sg_d, rc, mt,
                   U0, W, U0_AMAX, K, V, BK, BV, PER_CHANNEL, PREC, STORE_AMAX, NORM)


def _check(chunk_size: int, q: torch.Tensor, g: torch.Tensor) -> None:
    if chunk_size not in CHUNK_SIZES:
        raise ValueError(f"intra_chunk_fwd: chunk_size must be one of {CHUNK_SIZES}, got {chunk_size}")
    if g.shape[-1] not in (1, q.shape[-1]):
        raise ValueError(f"intra_chunk_fwd: g's last dim must be 1 (per head) or K={q.shape[-1]} (per channel), "
                         f"got {g.shape[-1]}")


def _tile(n: int) -> int:
    # Head-dim block, 32 wide at 4 warps (8 for "ieee" at C = 64): the fastest without spilling at C = 32
    # (`benchmarks/kernel_dev/kernel_registers.py`; record:
    # benchmarks/results/*_kernel-launch-choices_h200.md, "Intra forward tiles").
    return min(block(n), 32)


def intra_chunk_fwd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta: torch.Tensor,
                    chunk_size: int, precision: str | None = None, compact: bool = False,
                    u0_amax: torch.Tensor | None = None, store_ainv: bool = True,
                    norm_q_scale: float | None = None,
                    launch: LaunchConfig = DEFAULT_LAUNCH) -> tuple[torch.Tensor, ...]:
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
    `u0_amax`: a float32 (1,) tensor the kernels leave max |U0| in (zeroed here, then atomic max; the walk's float16
    scale), saving a pass over U0.
    `store_ainv`: False where no backward will read Ainv: its buffer is then the solve's scratch, and None is
    returned in its place.
    `launch`: `launch.split_wu` computes U0 and W by a second launch from the stored Ainv (`intra_wy_u0_w.py`; same
    values), `launch.maxnreg` caps the kernel's registers on CUDA.
    `norm_q_scale`: q and k arrive as they are and the kernel L2-normalises their rows (`kernels/utils/l2norm.py`), q's
    then times norm_q_scale, rounded to float16 as `l2norm_triton(out_dtype=float16)` would store them: the same
    values without that launch, for one decay per head, compact and without a backward (store_ainv=False).
    """
    _check(chunk_size, q, g)
    if norm_q_scale is not None and (g.shape[-1] != 1 or not compact or store_ainv):
        raise ValueError("intra_chunk_fwd: norm_q_scale (the L2 norm in the kernel) needs a per-head g, compact=True "
                         "and store_ainv=False")
    B, T, H, K = q.shape
    V, D, C = v.shape[-1], g.shape[-1], chunk_size
    N = cdiv(T, C)
    precision = precision or dot_precision(q.dtype)

    def out(*shape):
        return torch.empty(B, H, N, *shape, dtype=torch.float32, device=q.device)

    def out16(*shape):
        return torch.empty(B, H, N, *shape, dtype=torch.float16 if compact else torch.float32, device=q.device)

    norm = norm_q_scale is not None
    split = launch.split_wu
    # Before the launch only what the kernel writes: with split_wu, U0 and W (and the zeroed max |U0|) come after
    # it, off the host's path to the GPU's first large kernel (what a single call waits for)
    k_to_end, decay_chunk, q_decayed, qk = out16(C, K), out(D), out16(C, K), out16(C, C)
    Ainv = out(C, C)  # the solve's workspace, kept for the backward (store_ainv) or dropped
    k_rows = out(C) if norm and split else None  # the norm's factors of k's rows, for the U0 / W launch
    U0, W = (Ainv, Ainv) if split else (out(C, V), out16(C, K))  # (unread placeholders with split)
    if u0_amax is not None and not split:
        u0_amax.zero_()
    g_strides = (*g.stride()[:3], g.stride(3) if D > 1 else 0)
    cap = {"maxnreg": launch.maxnreg} if launch.maxnreg and q.device.type == "cuda" else {}
    _intra_chunk_fwd_kernel[(N, B * H)](
        q, k, v, g, beta, U0, W, k_to_end, decay_chunk, q_decayed, qk, Ainv, Ainv if k_rows is None else k_rows,
        Ainv if u0_amax is None else u0_amax, T, H, 1.0 if norm_q_scale is None else norm_q_scale, EPS,
        *q.stride(), *k.stride(), *v.stride(), *g_strides, *beta.stride(),
        C=C, K=K, V=V, BK=_tile(K), BV=_tile(V), PER_CHANNEL=D > 1, PREC=precision, PASS2=not split,
        STORE_AMAX=u0_amax is not None, NORM=norm,
        num_warps=8 if C == 64 and precision == "ieee" else 4, num_stages=1, **cap)
    if split:
        U0, W = out(C, V), out16(C, K)
        if u0_amax is not None:
            u0_amax.zero_()
        intra_wu(k, v, g, beta, Ainv, U0, W, precision, _tile(K), _tile(V), u0_amax, k_rows,
                 stages=launch.wu_stages)
    return U0, W, k_to_end, decay_chunk, q_decayed, qk, Ainv if store_ainv else None
