"""Triton backward of the delta rule's chunk-parallel part (`delta_rule/chunk.py: intra_chunk`), one program per chunk.

The forward (`delta_rule/intra_wy_fwd.py`) maps each chunk of C tokens, with G the cumulative log decay inside the chunk
(per key channel, D = K, or per head, D = 1), to
    qk = scores(q, k) (j <= t),  kk = scores(k, k) (j < t),  scores(a, b)[t, j] = sum_c a_tc b_jc e^{G_tc - G_jc}
    A = beta kk,  Ainv = (I + A)^-1,  U0 = Ainv (beta v),  W = Ainv (beta k e^G),
    k_to_end = k e^{G_last - G},  decay_chunk = e^{G_last},  q_decayed = q e^G.
Given the gradients of those six outputs, the chain rule runs back through the unit-lower-triangular solve
    dR_v = Ainv^T dU0,  dR_w = Ainv^T dW,  dA = -(dR_v U0^T + dR_w W^T) (strictly lower),
then through the decayed scores, whose gradient for M = scores(a, b) and an upstream dM is
    da_t = sum_j dM_tj b_j e^{G_t - G_j},  db_j = sum_t dM_tj a_t e^{G_t - G_j},  dG += a da - b db,
with dM = dqk for (q, k) and dM = beta dA for (k, k); dbeta collects rowsum(v dR_v), rowsum(k e^G dR_w) and
rowsum(dA kk) = rowsum(k * sum_j dA_tj k_j e^{G_t - G_j}), so kk itself is never rebuilt. The gate gradient is the
reverse cumulative sum of dG over the chunk (G_t sums g up to t), plus the G_last terms on every token.

Numerics: every exponent is a difference G_later - G_earlier <= 0 (masked before exp). Per-head decay (D = 1)
factors out of the scores, so the score gradients are (C, C) x (C, BK) products with a masked (C, C) decay matrix.
Per-channel decay does not. When the chunk's decay stays within SAFE_SPAN of its middle row (see the forward), the
split e^{G_t - G_j} = e^{G_t - G_m} e^{G_m - G_j} makes every score gradient a (C, C) x (C, BK) tl.dot again (checked
per chunk and K-block at run time). Otherwise the chunk is cut into 16-row blocks; a block pair (row block i,
earlier column block) splits the decay through a boundary row r between them, e^{G_t - G_j} = e^{G_t - G_r}
e^{G_r - G_j}, so it is one tl.dot with both factors in [0, 1], and the 16x16 diagonal blocks are summed explicitly
column by column.

Kernels (grid (N chunks, B * H)):
  D = 1   `_intra_bwd_head`: one pass, everything in registers, a loop over K blocks.
  D = K   `_intra_bwd_channel_prep` writes G (B, H, N, C, K), dA (B, H, N, C, C) and the G_last terms of dG
          (B, H, N, K) to float32 scratch, dv and the v-part of dbeta; `_intra_bwd_channel` then walks K blocks,
          launched twice: the fast pass takes every (chunk, K-block) the split allows and flags the others, the
          exact pass walks those flagged ones' 16-row blocks from last to first (so the reverse cumsum of dG carries
          a (BK,) suffix), loading 16-row tiles and their transposes from memory (register tensors cannot be
          sliced).
All arithmetic is float32 (tl.dot at the caller's `precision`, by default `dot_precision(q.dtype)`: ieee for fp32
inputs, tf32 for bf16 / fp16); the gradients are stored in float32 or, for autograd, in the inputs' dtypes.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.triton_support import MIN_BLOCK, block, cdiv, dot_precision

CHUNK_SIZES = (16, 32, 64)
SUB = MIN_BLOCK  # 16-row sub-blocks: the smallest tile tl.dot accepts
SAFE_SPAN = tl.constexpr(60.0)  # the forward's fast-path bound (delta_rule/intra_wy_fwd.py)


@triton.jit
def _wy_backward(AINV, U0, W, DU0, DW, v_ptr, s_vt, s_vd, dv_ptr, s_dvt, beta, row, m_row, chunk,
                 C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                 PREC: tl.constexpr):
    """Back through the solve: stores dv, returns (dA strictly lower (C, C), rowsum(v dR_v) (C,), Ainv (C, C))."""
    rc = tl.arange(0, C)
    ainv = tl.load(AINV + chunk * C * C + rc[:, None] * C + rc[None, :])  # (C, C)
    ainv_t = tl.trans(ainv)
    dA = tl.zeros([C, C], dtype=tl.float32)
    dbeta = tl.zeros([C], dtype=tl.float32)
    for v0 in range(0, V, BV):
        cv = v0 + tl.arange(0, BV)
        mv = cv < V
        off = chunk * C * V + rc[:, None] * V + cv[None, :]
        dR = tl.dot(ainv_t, tl.load(DU0 + off, mask=mv[None, :], other=0.0), input_precision=PREC)  # (C, BV)
        dA += tl.dot(dR, tl.trans(tl.load(U0 + off, mask=mv[None, :], other=0.0)), input_precision=PREC)
        m = m_row[:, None] & mv[None, :]
        vv = tl.load(v_ptr + row[:, None] * s_vt + cv[None, :] * s_vd, mask=m, other=0.0).to(tl.float32)
        tl.store(dv_ptr + row[:, None] * s_dvt + cv[None, :], beta[:, None] * dR, mask=m)
        dbeta += tl.sum(vv * dR, 1)
    for k0 in range(0, K, BK):
        ck = k0 + tl.arange(0, BK)
        mk = ck < K
        off = chunk * C * K + rc[:, None] * K + ck[None, :]
        dR = tl.dot(ainv_t, tl.load(DW + off, mask=mk[None, :], other=0.0), input_precision=PREC)  # (C, BK)
        dA += tl.dot(dR, tl.trans(tl.load(W + off, mask=mk[None, :], other=0.0).to(tl.float32)),
                     input_precision=PREC)  # W: float32 or float16 (compact forward)
    dA = tl.where(rc[:, None] > rc[None, :], -dA, 0.0)  # A is strictly lower: only that part has a gradient
    return dA, dbeta, ainv


@triton.jit
def _intra_bwd_head(Q, KEY, VAL, G, BETA, AINV, U0, W, DU0, DW, DKTE, DDC, DQD, DQK,
                    DQ, DK, DV, DG, DBETA,
                    s_qb, s_qt, s_qh, s_qd, s_kb, s_kt, s_kh, s_kd, s_vb, s_vt, s_vh, s_vd,
                    s_gb, s_gt, s_gh, s_bb, s_bt, s_bh, T, H, N,
                    C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                    PREC: tl.constexpr):
    i_n, i_bh = tl.program_id(0), tl.program_id(1).to(tl.int64)
    i_b, i_h = i_bh // H, i_bh % H
    chunk = i_bh * N + i_n
    rc = tl.arange(0, C)
    row = i_n * C + rc  # token index in the sequence
    m_row = row < T
    beta = tl.load(BETA + i_b * s_bb + i_h * s_bh + row * s_bt, mask=m_row, other=0.0).to(tl.float32)  # (C,)
    g = tl.load(G + i_b * s_gb + i_h * s_gh + row * s_gt, mask=m_row, other=0.0).to(tl.float32)
    Gc = tl.cumsum(g, 0)  # (C,) padded tail: g = 0, so G stays at the last real token's value
    G_last = tl.sum(tl.where(rc == C - 1, Gc, 0.0), 0)

    dA, dbeta, ainv = _wy_backward(AINV, U0, W, DU0, DW, VAL + i_b * s_vb + i_h * s_vh, s_vt, s_vd,
                                   DV + i_b * T * H * V + i_h * V, H * V, beta, row, m_row, chunk,
                                   C, K, V, BK, BV, PREC)
    causal = rc[:, None] >= rc[None, :]
    E = tl.exp(tl.where(causal, Gc[:, None] - Gc[None, :], float("-inf")))  # (C, C) in [0, 1]
    dqk = tl.load(DQK + chunk * C * C + rc[:, None] * C + rc[None, :])
    Pq = tl.where(causal, dqk, 0.0) * E  # dqk through the decay: the upper triangle is structurally zero
    Pk = dA * E  # dA is already strictly lower
    eG = tl.exp(Gc)[:, None]  # (C, 1)
    eL = tl.exp(G_last - Gc)[:, None]
    dG = tl.zeros([C], dtype=tl.float32)
    dG_last = tl.sum(tl.zeros([C], dtype=tl.float32), 0)
    for k0 in range(0, K, BK):
        ck = k0 + tl.arange(0, BK)
        mk = ck < K
        m = m_row[:, None] & mk[None, :]
        q = tl.load(Q + i_b * s_qb + i_h * s_qh + row[:, None] * s_qt + ck[None, :] * s_qd, mask=m,
                    other=0.0).to(tl.float32)  # (C, BK)
        k = tl.load(KEY + i_b * s_kb + i_h * s_kh + row[:, None] * s_kt + ck[None, :] * s_kd, mask=m,
                    other=0.0).to(tl.float32)
        off = chunk * C * K + rc[:, None] * K + ck[None, :]
        dRw = tl.dot(tl.trans(ainv), tl.load(DW + off, mask=mk[None, :], other=0.0), input_precision=PREC)
        dqd = tl.load(DQD + off, mask=mk[None, :], other=0.0)
        dkte = tl.load(DKTE + off, mask=mk[None, :], other=0.0)
        da_q = tl.dot(Pq, k, input_precision=PREC)  # (C, BK)
        da_k = tl.dot(Pk, k, input_precision=PREC)  # without beta_t: dbeta needs it raw
        db = tl.dot(tl.trans(Pq), q, input_precision=PREC) + tl.dot(tl.trans(Pk), beta[:, None] * k,
                                                                     input_precision=PREC)
        kg = k * eG
        kte_d = k * eL * dkte
        dq = da_q + dqd * eG
        dk = beta[:, None] * (da_k + eG * dRw) + db + dkte * eL
        out = i_b * T * H * K + i_h * K + row[:, None] * H * K + ck[None, :]
        tl.store(DQ + out, dq, mask=m)
        tl.store(DK + out, dk, mask=m)
        dbeta += tl.sum(k * da_k + kg * dRw, 1)
        dG += tl.sum(q * da_q + beta[:, None] * (k * da_k + kg * dRw) - k * db - kte_d + q * eG * dqd, 1)
        dG_last += tl.sum(tl.sum(kte_d, 1), 0)
    dG_last += tl.load(DDC + chunk) * tl.exp(G_last)
    dg = tl.cumsum(dG, 0, reverse=True) + dG_last  # G_t sums g_s for s <= t; G_last sums all of them
    tl.store(DG + i_b * T * H + i_h + row * H, dg, mask=m_row)
    tl.store(DBETA + i_b * T * H + i_h + row * H, dbeta, mask=m_row)


@triton.jit
def _intra_bwd_channel_prep(G, KEY, VAL, BETA, AINV, U0, W, DU0, DW, DKTE, DDC, GCUM, SUFFIX, DA, DV, DBETA,
                            s_kb, s_kt, s_kh, s_kd, s_vb, s_vt, s_vh, s_vd, s_gb, s_gt, s_gh, s_gd, s_bb, s_bt, s_bh,
                            T, H, N,
                            C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr,
                            BV: tl.constexpr, PREC: tl.constexpr):
    i_n, i_bh = tl.program_id(0), tl.program_id(1).to(tl.int64)
    i_b, i_h = i_bh // H, i_bh % H
    chunk = i_bh * N + i_n
    rc = tl.arange(0, C)
    row = i_n * C + rc
    m_row = row < T
    beta = tl.load(BETA + i_b * s_bb + i_h * s_bh + row * s_bt, mask=m_row, other=0.0).to(tl.float32)
    dA, dbeta, ainv = _wy_backward(AINV, U0, W, DU0, DW, VAL + i_b * s_vb + i_h * s_vh, s_vt, s_vd,
                                   DV + i_b * T * H * V + i_h * V, H * V, beta, row, m_row, chunk,
                                   C, K, V, BK, BV, PREC)
    tl.store(DA + chunk * C * C + rc[:, None] * C + rc[None, :], dA)
    tl.store(DBETA + i_b * T * H + i_h + row * H, dbeta, mask=m_row)
    for k0 in range(0, K, BK):
        ck = k0 + tl.arange(0, BK)
        mk = ck < K
        m = m_row[:, None] & mk[None, :]
        g = tl.load(G + i_b * s_gb + i_h * s_gh + row[:, None] * s_gt + ck[None, :] * s_gd, mask=m,
                    other=0.0).to(tl.float32)
        Gc = tl.cumsum(g, 0)
        ck_off = chunk * C * K + rc[:, None] * K + ck[None, :]
        tl.store(GCUM + ck_off, Gc, mask=mk[None, :])
        # k_to_end and decay_chunk depend on G_last, which sums every g of the chunk: a gradient for every token
        # of it, the suffix the main kernel's reverse cumsum of dG starts from (a column sum: done here, where the
        # tiles are still in their load layout)
        G_last = tl.sum(tl.where(rc[:, None] == C - 1, Gc, 0.0), 0)  # (BK,) padded rows keep the last real value
        kf = tl.load(KEY + i_b * s_kb + i_h * s_kh + row[:, None] * s_kt + ck[None, :] * s_kd, mask=m,
                     other=0.0).to(tl.float32)
        dkte = tl.load(DKTE + ck_off, mask=mk[None, :], other=0.0)
        suffix = tl.sum(kf * tl.exp(G_last[None, :] - Gc) * dkte, 0)
        suffix += tl.load(DDC + chunk * K + ck, mask=mk, other=0.0) * tl.exp(G_last)
        tl.store(SUFFIX + chunk * K + ck, suffix, mask=mk)


@triton.jit
def _finish_rows(da_q, da_k, db, dRw, q, k, G, G_last, beta, ck_off, mk, DQD, DKTE, DQ, DK, DG, out, m, suffix):
    """The last step for a block of rows (the whole chunk, or one 16-row block) of one K-block: given the score and
    solve terms da_q, da_k, db, dRw, add the direct terms of q e^G and k e^{G_last - G}, store dq, dk and the gate
    gradient (reverse cumsum of dG over these rows, plus `suffix` from the rows after them); returns the rows' dbeta
    terms and dG summed over the rows (the next suffix)."""
    eG = tl.exp(G)
    eL = tl.exp(G_last[None, :] - G)
    dqd = tl.load(DQD + ck_off, mask=mk[None, :], other=0.0)
    dkte = tl.load(DKTE + ck_off, mask=mk[None, :], other=0.0)
    kg = k * eG
    tl.store(DQ + out, da_q + dqd * eG, mask=m)
    tl.store(DK + out, beta[:, None] * (da_k + eG * dRw) + db + dkte * eL, mask=m)
    dG = q * da_q + beta[:, None] * (k * da_k + kg * dRw) - k * db - k * eL * dkte + q * eG * dqd
    tl.store(DG + out, tl.cumsum(dG, 0, reverse=True) + suffix[None, :], mask=m)
    return tl.sum(k * da_k + kg * dRw, 1), tl.sum(dG, 0)


@triton.jit
def _intra_bwd_channel(Q, KEY, BETA, AINV, DW, DKTE, SUFFIX, DQD, DQK, GCUM, DA, DQ, DK, DG, DBETA, EXACT_TODO,
                       s_qb, s_qt, s_qh, s_qd, s_kb, s_kt, s_kh, s_kd, s_bb, s_bt, s_bh, T, H, N,
                       C: tl.constexpr, K: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr, EXACT: tl.constexpr):
    """EXACT=False: the fast path for every (chunk, K-block) whose decay span allows it, and a flag in EXACT_TODO
    for each one that does not; EXACT=True (launched after it): the exact path for the flagged ones only. Two
    compilations instead of one kernel with both paths: the exact path's registers no longer weigh on the fast
    path's (see `intra_chunk_bwd`)."""
    S: tl.constexpr = 16  # sub-block rows
    NB: tl.constexpr = C // S
    NK: tl.constexpr = (K + BK - 1) // BK
    i_n, i_bh = tl.program_id(0), tl.program_id(1).to(tl.int64)
    i_b, i_h = i_bh // H, i_bh % H
    chunk = i_bh * N + i_n
    rc, rs = tl.arange(0, C), tl.arange(0, S)
    row = i_n * C + rc
    m_row = row < T
    q_ptr = Q + i_b * s_qb + i_h * s_qh
    k_ptr = KEY + i_b * s_kb + i_h * s_kh
    cc = chunk * C * C  # offset of this chunk's (C, C) matrices
    beta = tl.load(BETA + i_b * s_bb + i_h * s_bh + row * s_bt, mask=m_row, other=0.0).to(tl.float32)  # (C,)
    # the v part from the prep (and, in the exact pass, the fast pass's K-blocks)
    dbeta = tl.load(DBETA + i_b * T * H + i_h + row * H, mask=m_row, other=0.0)
    for k0 in range(0, K, BK):
        ck = k0 + tl.arange(0, BK)
        mk = ck < K
        m = m_row[:, None] & mk[None, :]
        ck_off = chunk * C * K + rc[:, None] * K + ck[None, :]  # (C, BK) in a chunked (C, K) tensor
        todo = EXACT_TODO + chunk * NK + k0 // BK
        G_last = tl.load(GCUM + chunk * C * K + (C - 1) * K + ck, mask=mk, other=0.0)  # (BK,)
        suffix = tl.load(SUFFIX + chunk * K + ck, mask=mk, other=0.0)  # (BK,) the G_last terms, from the prep
        if not EXACT:
            Gf = tl.load(GCUM + ck_off, mask=mk[None, :], other=0.0)  # (C, BK)
            kf = tl.load(k_ptr + row[:, None] * s_kt + ck[None, :] * s_kd, mask=m, other=0.0).to(tl.float32)
            # Fast path (as in the forward): every |G - G_m| <= SAFE_SPAN around the middle row m, so the whole
            # chunk's decayed products are (C, C) x (C, BK) tl.dots with the decay split e^{G_t - G_m} e^{G_m - G_j}.
            G_m = tl.load(GCUM + chunk * C * K + (C // 2) * K + ck, mask=mk, other=0.0)  # (BK,)
            rel = Gf - G_m[None, :]
            fast = tl.max(tl.max(tl.abs(rel), 1), 0) <= SAFE_SPAN
            tl.store(todo, tl.where(fast, 0, 1).to(tl.int8))
            if fast:
                to_m, from_m = tl.exp(rel), tl.exp(-rel)  # (C, BK)
                qf = tl.load(q_ptr + row[:, None] * s_qt + ck[None, :] * s_qd, mask=m, other=0.0).to(tl.float32)
                cc_off = cc + rc[:, None] * C + rc[None, :]
                dqk = tl.where(rc[None, :] <= rc[:, None], tl.load(DQK + cc_off), 0.0)  # j <= t: the rest is inert
                dA = tl.load(DA + cc_off)  # strictly lower already
                k_m = kf * from_m
                da_q = tl.dot(dqk, k_m, input_precision=PREC) * to_m
                da_k = tl.dot(dA, k_m, input_precision=PREC) * to_m  # beta_t not applied: dbeta needs it raw
                db = (tl.dot(tl.trans(dqk), qf * to_m, input_precision=PREC)
                      + tl.dot(tl.trans(dA), beta[:, None] * kf * to_m, input_precision=PREC)) * from_m
                ainv_t = tl.trans(tl.load(AINV + cc_off))
                dRw = tl.dot(ainv_t, tl.load(DW + ck_off, mask=mk[None, :], other=0.0), input_precision=PREC)
                out = i_b * T * H * K + i_h * K + row[:, None] * H * K + ck[None, :]
                dbeta_rows, _ = _finish_rows(da_q, da_k, db, dRw, qf, kf, Gf, G_last, beta, ck_off, mk, DQD, DKTE,
                                             DQ, DK, DG, out, m, suffix)
                dbeta += dbeta_rows
        elif tl.load(todo) != 0:  # the exact pass: a chunk whose decay spans too much for the split above
            Gf = tl.load(GCUM + ck_off, mask=mk[None, :], other=0.0)
            kf = tl.load(k_ptr + row[:, None] * s_kt + ck[None, :] * s_kd, mask=m, other=0.0).to(tl.float32)
            for ib in range(NB):
                i = NB - 1 - ib  # last row block first: the reverse cumsum carries `suffix` towards the chunk start
                rb = i * S + rs  # (S,) rows of this block inside the chunk
                tb = i_n * C + rb
                m_b = (tb < T)[:, None] & mk[None, :]
                sk_off = chunk * C * K + rb[:, None] * K + ck[None, :]  # (S, BK)
                Gi = tl.load(GCUM + sk_off, mask=mk[None, :], other=0.0)
                qi = tl.load(q_ptr + tb[:, None] * s_qt + ck[None, :] * s_qd, mask=m_b, other=0.0).to(tl.float32)
                ki = tl.load(k_ptr + tb[:, None] * s_kt + ck[None, :] * s_kd, mask=m_b, other=0.0).to(tl.float32)
                beta_i = tl.load(BETA + i_b * s_bb + i_h * s_bh + tb * s_bt, mask=tb < T, other=0.0).to(tl.float32)
                da_q = tl.zeros([S, BK], dtype=tl.float32)  # d(qk) / dq rows of this block
                da_k = tl.zeros([S, BK], dtype=tl.float32)  # dA through kk to its row keys (beta_t not applied)
                db = tl.zeros([S, BK], dtype=tl.float32)  # both score matrices to their column keys
                if i > 0:
                    # Columns of earlier blocks, through the boundary r = i*S - 1: e^{G_t - G_r} e^{G_r - G_j}.
                    G_r = tl.load(GCUM + chunk * C * K + (i * S - 1) * K + ck, mask=mk, other=0.0)  # (BK,)
                    before = (rc < i * S)[:, None]
                    kr = tl.where(before, kf * tl.exp(tl.where(before, G_r[None, :] - Gf, 0.0)), 0.0)  # (C, BK)
                    rows_cc = cc + rb[:, None] * C + rc[None, :]  # (S, C) row tiles of dqk and dA
                    e_r = tl.exp(Gi - G_r[None, :])
                    da_q += tl.dot(tl.load(DQK + rows_cc), kr, input_precision=PREC) * e_r
                    da_k += tl.dot(tl.load(DA + rows_cc), kr, input_precision=PREC) * e_r
                if i < NB - 1:
                    # Rows of later blocks, through the boundary r = the last row of this block.
                    G_r = tl.load(GCUM + chunk * C * K + (i * S + S - 1) * K + ck, mask=mk, other=0.0)
                    after = (rc >= i * S + S)[:, None]
                    e_a = tl.exp(tl.where(after, Gf - G_r[None, :], 0.0))
                    qf = tl.load(q_ptr + row[:, None] * s_qt + ck[None, :] * s_qd, mask=m, other=0.0).to(tl.float32)
                    qr = tl.where(after, qf * e_a, 0.0)  # (C, BK)
                    kbr = tl.where(after, beta[:, None] * kf * e_a, 0.0)  # beta_t: dkk = beta dA
                    cols_cc = cc + rc[None, :] * C + rb[:, None]  # (S, C): [jj, t] = M[t, i*S + jj], transposed tiles
                    db += (tl.dot(tl.load(DQK + cols_cc), qr, input_precision=PREC)
                           + tl.dot(tl.load(DA + cols_cc), kbr, input_precision=PREC)) * tl.exp(G_r[None, :] - Gi)
                # Diagonal block: explicit per-channel decay, one column j at a time.
                for jj in tl.static_range(S):  # unrolled: the column loads do not wait on the previous column
                    j = i * S + jj
                    k_j = tl.load(k_ptr + (i_n * C + j) * s_kt + ck * s_kd, mask=mk & (ck * 0 + i_n * C + j < T),
                                  other=0.0).to(tl.float32)  # (BK,)
                    G_j = tl.load(GCUM + chunk * C * K + j * K + ck, mask=mk, other=0.0)
                    dqk_c = tl.load(DQK + cc + rb * C + j)  # (S,) column j of this block's rows
                    dA_c = tl.load(DA + cc + rb * C + j)  # zero at t = j: dA is strictly lower
                    e = tl.exp(tl.where((rs >= jj)[:, None], Gi - G_j[None, :], float("-inf")))  # (S, BK)
                    kje = k_j[None, :] * e
                    da_q += dqk_c[:, None] * kje
                    da_k += dA_c[:, None] * kje
                    db_j = tl.sum((dqk_c[:, None] * qi + (dA_c * beta_i)[:, None] * ki) * e, 0)  # (BK,)
                    db += tl.where((rs == jj)[:, None], db_j[None, :], 0.0)
                ainv_t = tl.load(AINV + cc + rc[None, :] * C + rb[:, None])  # (S, C): Ainv^T rows of this block
                dRw = tl.dot(ainv_t, tl.load(DW + ck_off, mask=mk[None, :], other=0.0), input_precision=PREC)
                out = i_b * T * H * K + i_h * K + tb[:, None] * H * K + ck[None, :]
                dbeta_i, dG_sum = _finish_rows(da_q, da_k, db, dRw, qi, ki, Gi, G_last, beta_i, sk_off, mk, DQD,
                                               DKTE, DQ, DK, DG, out, m_b, suffix)  # (S,), (BK,)
                dbeta += tl.sum(tl.where(rc[None, :] == rb[:, None], dbeta_i[:, None], 0.0), 0)  # into (C,)
                suffix += dG_sum
    tl.store(DBETA + i_b * T * H + i_h + row * H, dbeta, mask=m_row)


def _chunked(x: torch.Tensor | None, shape: tuple[int, ...], name: str, keep_half: bool = False) -> torch.Tensor:
    if x is None:  # an output autograd saw no gradient for
        return torch.zeros(shape, dtype=torch.float32)
    if tuple(x.shape) != shape:
        raise ValueError(f"intra_chunk_bwd: {name} must have shape {shape}, got {tuple(x.shape)}")
    return x.contiguous() if keep_half and x.dtype == torch.float16 else x.float().contiguous()


def intra_chunk_bwd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta: torch.Tensor,
                    chunk_size: int, U0: torch.Tensor, W: torch.Tensor, Ainv: torch.Tensor,
                    dU0: torch.Tensor | None, dW: torch.Tensor | None, dk_to_end: torch.Tensor | None,
                    ddecay_chunk: torch.Tensor | None, dq_decayed: torch.Tensor | None,
                    dqk: torch.Tensor | None, precision: str | None = None,
                    grads_in_input_dtypes: bool = False) -> tuple[torch.Tensor, ...]:
    """Gradients of `intra_chunk_fwd` (see the module docstring); `precision` is tl.dot's (default: from q's dtype;
    pass the model dtype's when q is float32 for another reason, e.g. L2-normalised in float32).

    q, k: (B, T, H, K); v: (B, T, H, V); g: (B, T, H, D), D in {1, K}; beta: (B, T, H), any float dtype and strides.
    U0 (B, H, N, C, V), W (B, H, N, C, K), Ainv (B, H, N, C, C): the forward's saved outputs; dU0, dW, dk_to_end
    (B, H, N, C, K), ddecay_chunk (B, H, N, D), dq_decayed (B, H, N, C, K), dqk (B, H, N, C, C): the gradients of
    its first six outputs (None means zero). Returns (dq, dk, dv, dg, dbeta) contiguous in the input layouts, float32
    (the kernels' arithmetic, unrounded), or with `grads_in_input_dtypes` each in its input's dtype, stored so by the
    kernels themselves (what autograd wants: no float32 copy to cast afterwards).
    """
    B, T, H, K = q.shape
    V, D, C = v.shape[-1], g.shape[-1], chunk_size
    if C not in CHUNK_SIZES:
        raise ValueError(f"intra_chunk_bwd: chunk_size must be one of {CHUNK_SIZES}, got {C}")
    if D not in (1, K):
        raise ValueError(f"intra_chunk_bwd: g's last dim must be 1 or K={K}, got {D}")
    N = cdiv(T, C)
    U0 = _chunked(U0, (B, H, N, C, V), "U0")
    W = _chunked(W, (B, H, N, C, K), "W", keep_half=True)  # the compact forward's float16 W, widened in-kernel
    Ainv = _chunked(Ainv, (B, H, N, C, C), "Ainv")
    dU0, dW = _chunked(dU0, (B, H, N, C, V), "dU0"), _chunked(dW, (B, H, N, C, K), "dW")
    dkte, dqd = _chunked(dk_to_end, (B, H, N, C, K), "dk_to_end"), _chunked(dq_decayed, (B, H, N, C, K), "dq_decayed")
    ddc, dqk = _chunked(ddecay_chunk, (B, H, N, D), "ddecay_chunk"), _chunked(dqk, (B, H, N, C, C), "dqk")
    U0, W, Ainv, dU0, dW, dkte, dqd, ddc, dqk = (x.to(q.device) for x in (U0, W, Ainv, dU0, dW, dkte, dqd, ddc, dqk))

    f32 = dict(dtype=torch.float32, device=q.device)

    def grad_like(x: torch.Tensor, *shape: int) -> torch.Tensor:  # tl.store converts to the pointer's dtype
        return torch.empty(*shape, dtype=x.dtype if grads_in_input_dtypes else torch.float32, device=q.device)

    dq, dk = grad_like(q, B, T, H, K), grad_like(k, B, T, H, K)
    dv, dg = grad_like(v, B, T, H, V), grad_like(g, B, T, H, D)
    prec, grid = precision or dot_precision(q.dtype), (N, B * H)
    BK, BV = min(block(K), 64), min(block(V), 64)
    warps = 4 if C <= 32 else 8
    if D == 1:
        dbeta = grad_like(beta, B, T, H)
        if prec != "ieee":  # 32-wide blocks at 4 warps: faster than 64 at 8 (record: see the KDA launch below)
            BK, BV, warps = min(BK, 32), min(BV, 32), 4
        _intra_bwd_head[grid](q, k, v, g, beta, Ainv, U0, W, dU0, dW, dkte, ddc, dqd, dqk, dq, dk, dv, dg, dbeta,
                              *q.stride(), *k.stride(), *v.stride(), *g.stride()[:3], *beta.stride(), T, H, N,
                              C=C, K=K, V=V, BK=BK, BV=BV, PREC=prec, num_warps=warps, num_stages=1)
        return dq, dk, dv, dg, dbeta
    Gcum, dA = torch.empty(B, H, N, C, K, **f32), torch.empty(B, H, N, C, C, **f32)  # scratch
    suffix = torch.empty(B, H, N, K, **f32)
    dbeta = torch.empty(B, T, H, **f32)  # accumulated over both kernels: float32 until the end
    # Prep at 32-wide blocks and 4 warps; the main kernel in two passes (EXACT=False, then True), which cuts its
    # register spills (`benchmarks/kernel_dev/kernel_registers.py`) and was faster (record:
    # benchmarks/results/*_kernel-launch-choices_h200.md, "Intra backward launch").
    _intra_bwd_channel_prep[grid](g, k, v, beta, Ainv, U0, W, dU0, dW, dkte, ddc, Gcum, suffix, dA, dv, dbeta,
                                  *k.stride(), *v.stride(), *g.stride(), *beta.stride(), T, H, N,
                                  C=C, K=K, V=V, BK=min(BK, 32), BV=min(BV, 32), PREC=prec, num_warps=4, num_stages=1)
    BK = min(block(K), 32)
    exact_todo = torch.empty(B * H * N * cdiv(K, BK), dtype=torch.int8, device=q.device)  # the fast pass sets all
    for exact, warps, stages in ((False, 8, 2), (True, 4, 1)):
        _intra_bwd_channel[grid](q, k, beta, Ainv, dW, dkte, suffix, dqd, dqk, Gcum, dA, dq, dk, dg, dbeta, exact_todo,
                                 *q.stride(), *k.stride(), *beta.stride(), T, H, N,
                                 C=C, K=K, BK=BK, PREC=prec, EXACT=exact, num_warps=warps, num_stages=stages)
    return dq, dk, dv, dg, (dbeta.to(beta.dtype) if grads_in_input_dtypes else dbeta)
