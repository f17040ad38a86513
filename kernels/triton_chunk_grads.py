"""Triton kernel for the chunk-parallel tail of the chunk-state backward (`triton_chunk_state.py: ChunkState`).

After the reverse walk over chunks has stored, per chunk n, du_n, dS_{n+1} and the float32 chunked do_n, the
gradients of the chunk tensors that the walk does not need are four independent products per chunk:

    dW_n  = -du_n S_n^T          (C, K)   delta rule only (W is None for linear attention: no dW)
    dKd_n = u_n dS_{n+1}^T       (C, K)
    dQd_n = do_n S_n^T           (C, K)
    dQK_n = do_n u_n^T           (C, C)   the full matrix; the causal mask is applied upstream

with S_n, dS_{n+1} (K, V) and du_n, u_n, do_n (C, V), all float32 (B, H, NC, C | K, .). `chunk_grads_torch` is the
same thing as four batched torch matmuls (the reference, and what ChunkState ran before). Those ran as float32 SIMT
gemms plus a separate negation, about as long as the whole sequential backward kernel on an H200; here one launch
does all four with tl.dot at the caller's precision ("tf32" for bf16 / fp16 models, "ieee" for fp32), reading each
input once per program and writing each output once, already negated.

One program per (chunk, K-block) and one more per chunk for dQK, on a flat 1-D grid of B * H * NC * (NK + 1)
programs (CUDA's second and third grid axes stop at 65535, which a long packed row of 16-token chunks can pass):
programs i_k < NK accumulate the (C, BK) blocks of dW, dKd and dQd over V in BV-wide steps (S_n^T is shared by dW
and dQd), program i_k = NK accumulates dQK over V. The K-block index varies fastest, so the NK + 1 programs of one
chunk run side by side and their repeated reads of the chunk's (C, V) tiles mostly hit L2. Chunks are independent,
so packed sequences (VARLEN, B = 1, `chunk_packing.py`) need nothing special: each chunk of the row is one more.
Padding of a short K or V (below the 16-wide tl.dot minimum, or not a multiple of the block) is masked to zero.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.triton_support import MIN_BLOCK, block


@triton.jit
def _chunk_grads(S_IN, DS_NEXT, U, DU, DO_C, DW, DKD, DQD, DQK,
                 C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                 HAS_W: tl.constexpr, PREC: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    NK1: tl.constexpr = (K + BK - 1) // BK + 1  # K-blocks, then the dQK program
    chunk, i_k = pid // NK1, pid % NK1  # chunk: flat index in the contiguous (B, H, NC) chunk grid
    rc = tl.arange(0, C)
    cv_base, kv_base, ck_base = chunk * C * V, chunk * K * V, chunk * C * K
    if i_k * BK < K:  # a K-block: dW, dKd, dQd[:, k-block]
        rk = i_k * BK + tl.arange(0, BK)
        mk = rk < K
        dw = tl.zeros([C, BK], dtype=tl.float32)
        dkd = tl.zeros([C, BK], dtype=tl.float32)
        dqd = tl.zeros([C, BK], dtype=tl.float32)
        for v0 in range(0, V, BV):
            rv = v0 + tl.arange(0, BV)
            mv = rv < V
            m_kv, m_cv = mk[:, None] & mv[None, :], mv[None, :] & (rc[:, None] < C)
            kv_off = kv_base + rk[:, None] * V + rv[None, :]  # (BK, BV)
            cv_off = cv_base + rc[:, None] * V + rv[None, :]  # (C, BV)
            s_t = tl.trans(tl.load(S_IN + kv_off, mask=m_kv, other=0.0))  # S_n^T, (BV, BK)
            ds_t = tl.trans(tl.load(DS_NEXT + kv_off, mask=m_kv, other=0.0))  # dS_{n+1}^T
            do = tl.load(DO_C + cv_off, mask=m_cv, other=0.0)
            u = tl.load(U + cv_off, mask=m_cv, other=0.0)
            dqd += tl.dot(do, s_t, input_precision=PREC)
            dkd += tl.dot(u, ds_t, input_precision=PREC)
            if HAS_W:
                du = tl.load(DU + cv_off, mask=m_cv, other=0.0)
                dw += tl.dot(du, s_t, input_precision=PREC)
        ck_off = ck_base + rc[:, None] * K + rk[None, :]
        m_ck = mk[None, :] & (rc[:, None] < C)
        tl.store(DKD + ck_off, dkd, mask=m_ck)
        tl.store(DQD + ck_off, dqd, mask=m_ck)
        if HAS_W:
            tl.store(DW + ck_off, -dw, mask=m_ck)
    else:  # the last program of the chunk: dQK = do u^T
        dqk = tl.zeros([C, C], dtype=tl.float32)
        for v0 in range(0, V, BV):
            rv = v0 + tl.arange(0, BV)
            m_cv = (rv < V)[None, :] & (rc[:, None] < C)
            cv_off = cv_base + rc[:, None] * V + rv[None, :]
            do = tl.load(DO_C + cv_off, mask=m_cv, other=0.0)
            u = tl.load(U + cv_off, mask=m_cv, other=0.0)
            dqk += tl.dot(do, tl.trans(u), input_precision=PREC)
        tl.store(DQK + chunk * C * C + rc[:, None] * C + rc[None, :], dqk)


def _tiles(C: int, K: int, V: int) -> tuple[int, int]:
    """(BK, BV) for num_warps = 4 (128 threads). A K-block program holds three (C, BK) float32 accumulators and, per
    V step, three (C, BV) and two (BK, BV) tiles in registers: C * BK <= 2048 (BK = 64 for C <= 32, 32 for C = 64)
    and BV = 32 keep that at about 48 + 64 registers per thread, far from spilling even for "ieee" (FMA dot, whose
    operand layouts replicate), with room for several programs per SM to hide the loads of this memory-bound kernel.
    The dQK program holds one (C, C) accumulator (<= 32 registers) and two (C, BV) tiles. A larger BK would cut the
    re-reads of the (C, V) tiles across K-blocks, but those come from L2 (see the module docstring)."""
    return min(block(K), 2048 // C, 64), min(block(V), 32)


def chunk_grads(S_in: torch.Tensor, dS_next: torch.Tensor, u: torch.Tensor, du: torch.Tensor, do_c: torch.Tensor,
                has_w: bool, precision: str) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dW | None, dKd, dQd, dQK) of the module docstring, float32, from S_in, dS_next (B, H, NC, K, V) and u, du,
    do_c (B, H, NC, C, V), all float32; du is read only when has_w (dW is None otherwise). C must be a power of two
    >= 16 (the chunk sizes of the Triton paths); K and V any size."""
    B, H, NC, C, V = u.shape
    K = S_in.shape[-2]
    if C < MIN_BLOCK or C & (C - 1):
        raise ValueError(f"chunk_grads: chunk size must be a power of two >= {MIN_BLOCK}, got {C}")
    for name, t, shape in (("S_in", S_in, (B, H, NC, K, V)), ("dS_next", dS_next, (B, H, NC, K, V)),
                           ("du", du, (B, H, NC, C, V)), ("do_c", do_c, (B, H, NC, C, V))):
        if tuple(t.shape) != shape:
            raise ValueError(f"chunk_grads: {name} must have shape {shape}, got {tuple(t.shape)}")
    S_in, dS_next, u, du, do_c = (t.float().contiguous() for t in (S_in, dS_next, u, du, do_c))
    dKd, dQd = u.new_empty(B, H, NC, C, K), u.new_empty(B, H, NC, C, K)
    dQK = u.new_empty(B, H, NC, C, C)
    dW = u.new_empty(B, H, NC, C, K) if has_w else None
    BK, BV = _tiles(C, K, V)
    grid = ((triton.cdiv(K, BK) + 1) * B * H * NC,)  # per chunk: its K-blocks, then its dQK program
    # num_stages=2: the V loop's loads of step v + 1 overlap the dots of step v; one stage of tiles is at most
    # 3 (64, 32) + 2 (32, 32) floats = 32 KB, so two stages fit several programs per SM (227 KB on Hopper).
    _chunk_grads[grid](S_in, dS_next, u, du, do_c, dW if has_w else dKd, dKd, dQd, dQK, C=C, K=K, V=V, BK=BK, BV=BV,
                       HAS_W=has_w, PREC=precision, num_warps=4, num_stages=2)
    return dW, dKd, dQd, dQK


def chunk_grads_torch(S_in: torch.Tensor, dS_next: torch.Tensor, u: torch.Tensor, du: torch.Tensor,
                      do_c: torch.Tensor, has_w: bool) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor,
                                                                torch.Tensor]:
    """The reference: the same four products as batched torch matmuls, in the inputs' dtype (float64 in the tests)."""
    dW = -(du @ S_in.transpose(-1, -2)) if has_w else None
    return dW, u @ dS_next.transpose(-1, -2), do_c @ S_in.transpose(-1, -2), do_c @ u.transpose(-1, -2)
