"""Triton kernels for the sequential part of every chunked path: the state carried from chunk to chunk.

The chunk-parallel part (decayed scores, the WY/UT triangular solve) is batched over all chunks at once
(`delta_rule/chunk.py: intra_chunk`). What is left is a recurrence over chunks n with the (K, V) state S_n entering
chunk n, which a Python loop would run as T / C tiny launches; here one program walks all chunks of one
(sequence, head, V-block) with S in registers, in float32:

    u_n     = U0_n - W_n S_n                     (delta rule; without W, u_n = U0_n = v_n: linear attention)
    o_n     = Qd_n S_n + QK_n u_n                 Qd = q e^G, QK = causal decayed q.k scores
    S_{n+1} = diag(d_n) S_n + Kd_n^T u_n          d = whole-chunk decay per key row, Kd = keys decayed to chunk end

The backward walks the chunks in reverse with dS = dL/dS_{n+1} in registers:

    du_n = QK_n^T do_n + Kd_n dS_{n+1}
    dS_n = diag(d_n) dS_{n+1} + Qd_n^T do_n - W_n^T du_n
and stores du_n, dS_{n+1} and the decay gradient dd_n = rowsum(S_n * dS_{n+1}) (per V-block, summed in torch: the
(K, V) product is never stored); the remaining gradients are chunk-parallel products, all four in one launch
afterwards (`common/chunk_grads.py`: dW = -du S^T, dKd = u dS^T, dQd = do S^T, dQK = do u^T). Memory: one state
per chunk (S_n forward, dS_{n+1} backward), as the chunked algorithm needs; nothing per token beyond OUT(T D).

o is stored straight into the caller's (B, T, H, V) layout and dtype (the padded tail of the last chunk dropped),
and the backward reads do from there in any dtype and strides, storing the chunked copy that the chunk products
need: no reshape, cast or padding of o / do in torch.

Products: with float32 chunk tensors, tl.dot at the caller's precision (tf32 or ieee) on float32 operands. With the
compact float16 W, Kd and Qd (L2-normalised q and k, tf32 models; `delta_rule/chunk_triton.py`) every product takes
float16 operands instead: the tiles go from memory into the tensor cores as they are, and the float32 S, u (and
backward do, dS, du) are rounded to float16 on the way in, accumulating in float32. float16 keeps tf32's 10-bit
mantissa, so nothing is lost but range, and that is restored by scaling: each walk multiplies those operands by a
power of two s that brings the largest input magnitude (max |U0|, |h0| forward; max |do|, |dS_out| backward: the
walks are linear in them, and the delta rule keeps S and u near their size) into [1, 2), and the products by 1 / s
(exact). The state stays float32 in registers. This is faster than tf32 on float32 tiles and closer to the exact
(ieee) walk. The per-chunk tensors kept for the chunk gradients (S_n and u_n forward, dS_{n+1} and do_n backward;
`WalkSaved`) are stored as multiplied: float16 times s, which the gradient kernel undoes once (float32 without the
16-bit products). Record: benchmarks/results/*_kernel-launch-choices_h200.md, "16-bit walk".

Packed sequences (VARLEN): the chunk tensors are one chunk-aligned row (B = 1, `utils/varlen_chunk_aligned.py`: each
document
zero-padded to whole chunks), and the grid is (V-block, sequence * head), not (V-block, batch * head): program
(i, h) walks only sequence i's chunks [chunk_starts[i], chunk_starts[i + 1]), from h0[i] to S[i] (backward: to
dh0[i]), and stores / reads o / do at its tokens [seq_starts[i], seq_starts[i + 1]) of the packed (1, T, H, V) row.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from kernels.common.chunk_grads import chunk_grads
from kernels.common.chunk_output import chunk_output
from kernels.utils.half_scale import amax, half_scale
from kernels.utils.launch import DEFAULT_LAUNCH, LaunchConfig
from kernels.utils.triton_support import block, cdiv, multiprocessors


@triton.jit
def _sequence(i_nh, SEQ_START, CHUNK_START, NC, T, H, VARLEN: tl.constexpr):
    """What program (sequence, head) i_nh walks: (batch row, head, first chunk in the (B, H, NC) chunk grid, number
    of chunks, first token in its row, number of tokens)."""
    i_n, i_h = i_nh // H, i_nh % H
    if VARLEN:  # B = 1, sequences chunk-aligned in one row (varlen_chunk_aligned): i_n owns chunks [c0, c0 + n_chunks)
        c0 = tl.load(CHUNK_START + i_n).to(tl.int64)
        n_chunks = tl.load(CHUNK_START + i_n + 1).to(tl.int64) - c0
        first = i_h * NC + c0
        bos = tl.load(SEQ_START + i_n).to(tl.int64)  # and its tokens [bos, bos + seq_len) of the packed (1, T) row
        seq_len = tl.load(SEQ_START + i_n + 1).to(tl.int64) - bos
        i_b = i_n * 0
    else:  # one sequence per batch row: all NC chunks of row i_n
        n_chunks = NC
        first = i_nh * NC
        bos = i_n * 0
        seq_len = T
        i_b = i_n
    return i_b, i_h, first, n_chunks, bos, seq_len


@triton.jit
def _chunk_state_fwd(W, U0, KD, DECAY, QD, QK, H0, OUT, U, S_IN, S_OUT, SEQ_START, CHUNK_START, AMAX, NC, T, H,
                     s_ob, s_ot, s_oh, s_ov,
                     C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                     HAS_W: tl.constexpr, VARLEN: tl.constexpr, PREC: tl.constexpr, HALF: tl.constexpr,
                     STORE_O: tl.constexpr, HAS_H0: tl.constexpr):
    i_v, i_nh = tl.program_id(0), tl.program_id(1).to(tl.int64)  # i_nh: (sequence, head)
    i_b, i_h, first, n_chunks, bos, seq_len = _sequence(i_nh, SEQ_START, CHUNK_START, NC, T, H, VARLEN)
    out_base = OUT + i_b * s_ob + i_h * s_oh + bos * s_ot  # o: (B, T, H, V), the caller's layout and dtype
    rc, rk, rv = tl.arange(0, C), tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = rk < K, rv < V
    m_kv, m_cv, m_ck = mk[:, None] & mv[None, :], mv[None, :] & (rc[:, None] < C), mk[None, :] & (rc[:, None] < C)
    kv_off = rk[:, None] * V + rv[None, :]  # (BK, BV) inside one state
    cv_off = rc[:, None] * V + rv[None, :]  # (C, BV) inside one chunk of values
    ck_off = rc[:, None] * K + rk[None, :]  # (C, BK) inside one chunk of keys
    cc_off = rc[:, None] * C + rc[None, :]  # (C, C)

    S = tl.zeros([BK, BV], dtype=tl.float32)  # (BK, BV) float32: zero without an initial state
    if HAS_H0:
        S = tl.load(H0 + i_nh * K * V + kv_off, mask=m_kv, other=0.0)
    s, inv_s = half_scale(AMAX, HALF)
    for n in range(n_chunks):
        chunk = first + n
        u = tl.load(U0 + chunk * C * V + cv_off, mask=m_cv, other=0.0).to(tl.float32)  # (C, BV)
        if STORE_O:
            qk = tl.load(QK + chunk * C * C + cc_off)
        if HALF:  # float16 W, Qd, Kd straight into the products; S and u scaled into float16's range, then back
            S16 = (S * s).to(tl.float16)
            tl.store(S_IN + chunk * K * V + kv_off, S16, mask=m_kv)  # stored scaled, as multiplied
            if HAS_W:
                u -= tl.dot(tl.load(W + chunk * C * K + ck_off, mask=m_ck, other=0.0), S16) * inv_s
            u16 = (u * s).to(tl.float16)
            if HAS_W:
                tl.store(U + chunk * C * V + cv_off, u16, mask=m_cv)
            if STORE_O:
                o = (tl.dot(tl.load(QD + chunk * C * K + ck_off, mask=m_ck, other=0.0), S16)
                     + tl.dot(qk.to(tl.float16), u16)) * inv_s
            kd_u = tl.dot(tl.trans(tl.load(KD + chunk * C * K + ck_off, mask=m_ck, other=0.0)), u16) * inv_s
        else:
            tl.store(S_IN + chunk * K * V + kv_off, S, mask=m_kv)
            if HAS_W:
                w = tl.load(W + chunk * C * K + ck_off, mask=m_ck, other=0.0).to(tl.float32)  # (C, BK)
                u -= tl.dot(w, S, input_precision=PREC)
                tl.store(U + chunk * C * V + cv_off, u, mask=m_cv)
            if STORE_O:
                qd = tl.load(QD + chunk * C * K + ck_off, mask=m_ck, other=0.0).to(tl.float32)
                o = tl.dot(qd, S, input_precision=PREC) + tl.dot(qk.to(tl.float32), u, input_precision=PREC)
            kd = tl.load(KD + chunk * C * K + ck_off, mask=m_ck, other=0.0).to(tl.float32)
            kd_u = tl.dot(tl.trans(kd), u, input_precision=PREC)
        if STORE_O:  # else o is a chunk-parallel launch after the walk (`common/chunk_output.py`)
            t = n * C + rc.to(tl.int64)  # tokens of the chunk in its sequence; those past its end: zero padding
            tl.store(out_base + t[:, None] * s_ot + rv[None, :] * s_ov, o, mask=(t < seq_len)[:, None] & mv[None, :])
        d = tl.load(DECAY + chunk * K + rk, mask=mk, other=0.0)  # (BK,)
        S = S * d[:, None] + kd_u
    tl.store(S_OUT + i_nh * K * V + kv_off, S, mask=m_kv)


@triton.jit
def _chunk_state_bwd(DO, DS_OUT, W, KD, DECAY, QD, QK, S_IN, DO_C, DU, DS_NEXT, DDECAY, DH0, SEQ_START, CHUNK_START,
                     AMAX, S_AMAX, NC, T, H, ALL_CHUNKS, s_db, s_dt, s_dh, s_dv,
                     C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                     HAS_W: tl.constexpr, HAS_DS_OUT: tl.constexpr, VARLEN: tl.constexpr, PREC: tl.constexpr,
                     HALF: tl.constexpr):
    i_v, i_nh = tl.program_id(0), tl.program_id(1).to(tl.int64)  # i_nh: (sequence, head)
    i_b, i_h, first, n_chunks, bos, seq_len = _sequence(i_nh, SEQ_START, CHUNK_START, NC, T, H, VARLEN)
    do_base = DO + i_b * s_db + i_h * s_dh + bos * s_dt  # do: (B, T, H, V), any dtype and strides
    rc, rk, rv = tl.arange(0, C), tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = rk < K, rv < V
    m_kv, m_cv, m_ck = mk[:, None] & mv[None, :], mv[None, :] & (rc[:, None] < C), mk[None, :] & (rc[:, None] < C)
    kv_off = rk[:, None] * V + rv[None, :]
    cv_off = rc[:, None] * V + rv[None, :]
    ck_off = rc[:, None] * K + rk[None, :]
    cc_off = rc[:, None] * C + rc[None, :]

    if HAS_DS_OUT:
        dS = tl.load(DS_OUT + i_nh * K * V + kv_off, mask=m_kv, other=0.0)  # (BK, BV)
    else:
        dS = tl.zeros([BK, BV], dtype=tl.float32)
    s, inv_s = half_scale(AMAX, HALF)
    s_fwd, inv_s_fwd = half_scale(S_AMAX, HALF)  # the forward's scale, with which S_in was stored
    for i in range(n_chunks):
        n = n_chunks - 1 - i  # the sequence's chunks in reverse
        chunk = first + n
        s_in = tl.load(S_IN + chunk * K * V + kv_off, mask=m_kv, other=0.0).to(tl.float32)  # S_n, (BK, BV)
        dd_part = DDECAY + (i_v * ALL_CHUNKS + chunk) * K  # this V-block's share, (NV, B, H, N, K)
        tl.store(dd_part + rk, tl.sum(s_in * dS, 1) * inv_s_fwd, mask=mk)
        t = n * C + rc.to(tl.int64)
        do = tl.load(do_base + t[:, None] * s_dt + rv[None, :] * s_dv, mask=(t < seq_len)[:, None] & mv[None, :],
                     other=0.0).to(tl.float32)  # (C, BV), zero on the padding
        qk = tl.load(QK + chunk * C * C + cc_off)
        d = tl.load(DECAY + chunk * K + rk, mask=mk, other=0.0)
        if HALF:  # as forward: float16 operands, do / dS / du scaled into float16's range, the products scaled back
            do16 = (do * s).to(tl.float16)
            dS16 = (dS * s).to(tl.float16)
            tl.store(DO_C + chunk * C * V + cv_off, do16, mask=m_cv)  # chunked, for dQd and dQK: scaled, as multiplied
            tl.store(DS_NEXT + chunk * K * V + kv_off, dS16, mask=m_kv)
            du = (tl.dot(tl.trans(qk.to(tl.float16)), do16)
                  + tl.dot(tl.load(KD + chunk * C * K + ck_off, mask=m_ck, other=0.0), dS16)) * inv_s
            dS_add = tl.dot(tl.trans(tl.load(QD + chunk * C * K + ck_off, mask=m_ck, other=0.0)), do16)
            if HAS_W:
                dS_add -= tl.dot(tl.trans(tl.load(W + chunk * C * K + ck_off, mask=m_ck, other=0.0)),
                                (du * s).to(tl.float16))
            dS_add *= inv_s
        else:
            tl.store(DO_C + chunk * C * V + cv_off, do, mask=m_cv)  # float32 chunked, for dQd and dQK
            tl.store(DS_NEXT + chunk * K * V + kv_off, dS, mask=m_kv)
            kd = tl.load(KD + chunk * C * K + ck_off, mask=m_ck, other=0.0).to(tl.float32)
            du = tl.dot(tl.trans(qk.to(tl.float32)), do, input_precision=PREC) + tl.dot(kd, dS, input_precision=PREC)
            qd = tl.load(QD + chunk * C * K + ck_off, mask=m_ck, other=0.0).to(tl.float32)
            dS_add = tl.dot(tl.trans(qd), do, input_precision=PREC)
            if HAS_W:
                w = tl.load(W + chunk * C * K + ck_off, mask=m_ck, other=0.0).to(tl.float32)
                dS_add -= tl.dot(tl.trans(w), du, input_precision=PREC)
        tl.store(DU + chunk * C * V + cv_off, du, mask=m_cv)
        dS = dS * d[:, None] + dS_add
    tl.store(DH0 + i_nh * K * V + kv_off, dS, mask=m_kv)


class WalkLaunch(NamedTuple):
    """Launch configuration of the walk: value-block width and pipeline stages of each direction, warps."""
    fwd_bv: int
    fwd_stages: int
    bwd_bv: int
    bwd_stages: int
    warps: int


def _launch(K: int, V: int, half: bool, walks: int, sms: int) -> WalkLaunch:
    """The walk's launch: the (K, BV) state lives in registers; walks = sequences * heads, sms = the device's SMs,
    half = float16 chunk tensors (the 16-bit products). float32 tiles: BV=64 at 8 warps, one stage (shared memory).
    float16: the narrowest blocks (16, 32) that leave at most one program per SM, both directions pipelined, the
    forward 3 deep; else BV=64 forward (2 stages up to two programs per SM), BV=32 backward.
    Record: benchmarks/results/*_kernel-launch-choices_h200.md, "Walk launch"."""
    if K > 128:
        return WalkLaunch(min(block(V), 16), 1, min(block(V), 16), 1, 4)
    if not half:
        return WalkLaunch(min(block(V), 64), 1, min(block(V), 64), 1, 8)
    for bv in (16, 32):  # the narrowest blocks that still leave at most one program per SM: both pipelined,
        if walks * cdiv(V, bv) <= sms:  # the forward 3 deep (its tiles since float16 QK fit three times)
            bv = min(block(V), bv)
            return WalkLaunch(bv, 3, bv, 2, 4)
    fwd_bv = min(block(V), 64)
    return WalkLaunch(fwd_bv, 2 if walks * cdiv(V, fwd_bv) <= 2 * sms else 1, min(block(V), 32), 1, 4)


def split_output(walks: int, V: int, sms: int) -> bool:
    """Whether the forward walk leaves o to the chunk-parallel launch (`common/chunk_output.py`): only when the walks
    fit one per SM even in the narrowest value blocks (16 wide), i.e. long walks of one sequence, where each step
    waits on its products and dropping two of the four from the chain pays for reading S_n and u_n back (record:
    benchmarks/results/*_kernel-launch-choices_h200.md, "Output after the walk")."""
    return walks * cdiv(V, 16) <= sms


class WalkSaved(NamedTuple):
    """What the forward walk leaves for `state_backward`: u (B, H, NC, C, V), the entering states S_in (B, H, NC, K, V)
    and the 0-d amax of the forward's float16 scale. With the 16-bit products (float16 chunk tensors) u and S_in
    are float16, stored as multiplied, i.e. times that scale (`utils/half_scale.py`); else float32, and amax a
    placeholder never read. Without W, u is U0 itself (float32, unscaled)."""
    u: torch.Tensor
    S_in: torch.Tensor
    amax: torch.Tensor


def state_forward(W, U0, Kd, decay, Qd, QK, h0, precision: str, T: int, out_dtype: torch.dtype,
                  seqs: tuple[torch.Tensor, torch.Tensor] | None = None, u0_amax: torch.Tensor | None = None,
                  launch: LaunchConfig = DEFAULT_LAUNCH) -> tuple[torch.Tensor, torch.Tensor, WalkSaved]:
    """The forward walk (module docstring) on chunk tensors (B, H, NC, C, .): U0, decay float32; W, Kd, Qd, QK
    float32 or float16 (W, Kd, Qd all float16: the 16-bit products, which round QK to float16 anyway; W may be None).
    Returns (o (B, T, H, V) in out_dtype, S_out (N, H, K, V) float32, WalkSaved for `state_backward`); see
    ChunkState for `seqs`. u0_amax: max |U0| (1,) when the caller has it (`intra_chunk_fwd`), else computed here.
    h0 None: zero initial states, neither allocated nor read. `launch.split_output` overrides `split_output`."""
    B, H, NC, C, V = U0.shape
    K = Kd.shape[-1]
    N = B if seqs is None else seqs[0].numel() - 1
    if h0 is not None and h0.shape != (N, H, K, V):
        raise ValueError(f"chunk_state: h0 must be {(N, H, K, V)}, got {tuple(h0.shape)}")
    U0, decay = (x.float().contiguous() for x in (U0, decay))
    W, Kd, Qd = (None if x is None else _compact_or_float(x) for x in (W, Kd, Qd))
    half = _half(W, Kd, Qd)
    QK = QK.contiguous() if half and QK.dtype == torch.float16 else QK.float().contiguous()
    h0 = None if h0 is None else h0.float().contiguous()
    seq_starts, chunk_starts = (U0, U0) if seqs is None else seqs  # unread without VARLEN
    store = torch.float16 if half else torch.float32  # u and S_in, as the products take them
    o = U0.new_empty(B, T, H, V, dtype=out_dtype)
    u = U0.new_empty(U0.shape, dtype=store) if W is not None else U0
    S_in = U0.new_empty(B, H, NC, K, V, dtype=store)
    S_out = U0.new_empty(N, H, K, V)
    sms = multiprocessors(Kd.device)
    walk = _launch(K, V, half, N * H, sms)
    # the scale of the 16-bit products: S and u are linear in (U0, h0), and the delta rule keeps them near its size
    S_amax = decay  # a placeholder, never read, without the 16-bit products
    if half:
        S_amax = amax(U0) if u0_amax is None else u0_amax.reshape(())
        if h0 is not None:
            S_amax = torch.maximum(S_amax, amax(h0))
    grid = (cdiv(V, walk.fwd_bv), N * H)
    split = split_output(N * H, V, sms) if launch.split_output is None else launch.split_output
    _chunk_state_fwd[grid](W if W is not None else U0, U0, Kd, decay, Qd, QK, U0 if h0 is None else h0, o, u, S_in,
                           S_out, seq_starts, chunk_starts, S_amax, NC, T, H, *o.stride(), C=C, K=K, V=V, BK=block(K),
                           BV=walk.fwd_bv, HAS_W=W is not None, VARLEN=seqs is not None, PREC=precision,
                           HALF=half, STORE_O=not split, HAS_H0=h0 is not None, num_warps=walk.warps,
                           num_stages=walk.fwd_stages)
    if split:
        chunk_output(Qd, QK, S_in, u, o, S_amax, half, half and W is not None, precision, seqs)
    return o, S_out, WalkSaved(u, S_in, S_amax)


def state_backward(W, Kd, decay, Qd, QK, saved: WalkSaved, do, dS_out, precision: str, T: int,
                   seqs: tuple[torch.Tensor, torch.Tensor] | None = None):
    """Gradients of `state_forward` from the tensors it used and returned (W, Kd, Qd in the dtypes it read):
    (dW | None, dU0, dKd, ddecay (B, H, NC, K), dQd, dQK, dh0), all float32. do: (B, T, H, V) any dtype and strides,
    or None; dS_out: (N, H, K, V) or None (zero)."""
    u, S_in = saved.u, saved.S_in
    B, H, NC, C, V = u.shape
    K = Kd.shape[-1]
    N = B if seqs is None else seqs[0].numel() - 1
    if do is None:
        do = u.new_zeros(B, T, H, V)
    half = _half(W, Kd, Qd)
    # do chunked (for dQd, dQK) and dS_{n+1}, stored by the kernel as multiplied: float16 scaled, or float32
    store = torch.float16 if half else torch.float32
    do_c, du = u.new_empty(u.shape, dtype=store), u.new_empty(u.shape, dtype=torch.float32)
    dS_next, dh0 = S_in.new_empty(S_in.shape, dtype=store), S_in.new_empty(N, H, K, V, dtype=torch.float32)
    walk = _launch(K, V, half, N * H, multiprocessors(Kd.device))
    grid = (cdiv(V, walk.bwd_bv), N * H)
    ddecay = dh0.new_empty(grid[0], B, H, NC, K)  # per V-block rowsum(S * dS)
    has_ds = dS_out is not None
    dS_out = dS_out.float().contiguous() if has_ds else dh0
    # the scale of the 16-bit products: dS and du are linear in (do, dS_out)
    dS_amax = (amax(do, dS_out) if has_ds else amax(do)) if half else saved.amax
    seq_starts, chunk_starts = (dh0, dh0) if seqs is None else seqs
    _chunk_state_bwd[grid](do, dS_out, W if W is not None else Kd, Kd, decay, Qd, QK, S_in, do_c, du, dS_next,
                           ddecay, dh0, seq_starts, chunk_starts, dS_amax, saved.amax, NC, T, H, B * H * NC,
                           *do.stride(), C=C, K=K, V=V, BK=block(K), BV=walk.bwd_bv, HAS_W=W is not None,
                           HAS_DS_OUT=has_ds, VARLEN=seqs is not None, PREC=precision, HALF=half,
                           num_warps=walk.warps, num_stages=walk.bwd_stages)
    # dW = -du S^T, dKd = u dS^T, dQd = do S^T, dQK = do u^T: one chunk-parallel launch (`common/chunk_grads.py`)
    half_amax = (saved.amax, dS_amax) if half else None
    dW, dKd, dQd, dQK = chunk_grads(S_in, dS_next, u, du, do_c, W is not None, precision, half_amax)
    return dW, du, dKd, ddecay.sum(0), dQd, dQK, dh0


def _half(W: torch.Tensor | None, Kd: torch.Tensor, Qd: torch.Tensor) -> bool:
    """Whether the walk takes the 16-bit products: W (if any), Kd and Qd all float16 (the compact chunk tensors)."""
    return all(x is None or x.dtype == torch.float16 for x in (W, Kd, Qd))


def _compact_or_float(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous() if x.dtype == torch.float16 else x.float().contiguous()


class ChunkState(torch.autograd.Function):
    """(W | None, U0, Kd, decay, Qd, QK, h0 | None) -> (o (B, T, H, V) in out_dtype, final state (N, H, K, V)
    float32); chunk tensors (B, H, NC, C, .) float32, h0 None for zero initial states.

    Without `seqs` each batch row is one sequence (N = B, NC * C >= T). With seqs = (seq_starts, chunk_starts),
    int32 (N + 1,) each, B = 1: sequence i is tokens [seq_starts[i], seq_starts[i + 1]) of the packed (1, T) o and
    chunks [chunk_starts[i], chunk_starts[i + 1]) of the chunk-aligned row (`utils/varlen_chunk_aligned.py`); one
    program walks
    each (sequence, head, V-block) from h0[i] to S[i]."""

    @staticmethod
    def forward(ctx, W, U0, Kd, decay, Qd, QK, h0, precision: str, T: int, out_dtype: torch.dtype,
                seqs: tuple[torch.Tensor, torch.Tensor] | None = None, launch: LaunchConfig = DEFAULT_LAUNCH):
        # float32 throughout: the gradients autograd hands back must not be rounded to a 16-bit input's dtype
        W, U0, Kd, decay, Qd, QK = (None if x is None else x.float().contiguous() for x in (W, U0, Kd, decay, Qd, QK))
        o, S_out, saved = state_forward(W, U0, Kd, decay, Qd, QK, h0, precision, T, out_dtype, seqs,
                                        launch=launch)
        ctx.save_for_backward(W, Kd, decay, Qd, QK, *saved)
        ctx.precision, ctx.T, ctx.seqs, ctx.has_h0 = precision, T, seqs, h0 is not None
        ctx.set_materialize_grads(False)  # an unused final state's gradient stays None: no zeros to allocate and read
        return o, S_out

    @staticmethod
    def backward(ctx, do, dS_out):
        W, Kd, decay, Qd, QK, *saved = ctx.saved_tensors
        *grads, dh0 = state_backward(W, Kd, decay, Qd, QK, WalkSaved(*saved), do, dS_out, ctx.precision, ctx.T,
                                     ctx.seqs)
        return (*grads, dh0 if ctx.has_h0 else None, None, None, None, None, None)


def chunk_state(W, U0, Kd, decay, Qd, QK, h0, precision: str, T: int, out_dtype: torch.dtype,
                seqs: tuple[torch.Tensor, torch.Tensor] | None = None,
                launch: LaunchConfig = DEFAULT_LAUNCH) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the chunk recurrence (see the module docstring) on chunk tensors (B, H, NC, C, .) covering T tokens;
    returns o (B, T, H, V) contiguous in out_dtype and S_final (N, H, K, V) float32. `seqs` = (seq_starts,
    chunk_starts): packed sequences, chunk-aligned in one row (see ChunkState); None: one sequence per batch row."""
    return ChunkState.apply(W, U0, Kd, decay, Qd, QK, h0, precision, T, out_dtype, seqs, launch)
