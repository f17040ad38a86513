"""Triton kernel for the chunk-parallel tail of the chunk-state backward (`common/chunk_state.py: ChunkState`).

After the reverse walk over chunks has stored, per chunk n, du_n, dS_{n+1} and the chunked do_n, the gradients of the
chunk tensors that the walk does not need are four independent products per chunk:

    dW_n  = -du_n S_n^T          (C, K)   delta rule only (W is None for linear attention: no dW)
    dKd_n = u_n dS_{n+1}^T       (C, K)
    dQd_n = do_n S_n^T           (C, K)
    dQK_n = do_n u_n^T           (C, C)   the full matrix; the causal mask is applied upstream

with S_n, dS_{n+1} (K, V) and du_n, u_n, do_n (C, V), (B, H, NC, C | K, .). `chunk_grads_torch` is the same thing
as four batched torch matmuls (the reference). Here one launch does all four
with tl.dot, reading each input once per program and writing each output once (float32), already negated. With
float32 inputs the products run at the caller's precision ("tf32" for bf16 / fp16 models, "ieee" for fp32). When
the walks multiplied in float16 (compact chunk tensors) they stored S_n, u_n, dS_{n+1} and do_n in float16 as they
multiplied them, times their power-of-two scales (`utils/half_scale.py`): half the bytes of this memory-bound
kernel's largest reads and of the walks' stores, and float16 products here too, scaled back once at the end.

One program per (chunk, K-block) and one more per chunk for dQK, on a flat 1-D grid of B * H * NC * (NK + 1)
programs (CUDA's second and third grid axes stop at 65535, which a long packed row of 16-token chunks can pass):
programs i_k < NK accumulate the (C, BK) blocks of dW, dKd and dQd over V in BV-wide steps (S_n^T is shared by dW
and dQd), program i_k = NK accumulates dQK over V. The K-block index varies fastest, so the NK + 1 programs of one
chunk run side by side and their repeated reads of the chunk's (C, V) tiles mostly hit L2. Chunks are independent,
so packed sequences (VARLEN, B = 1, `utils/varlen_chunk_aligned.py`) need nothing special: each chunk of the row is one
more.
Padding of a short K or V (below the 16-wide tl.dot minimum, or not a multiple of the block) is masked to zero.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.half_scale import half_scale
from kernels.utils.triton_support import MIN_BLOCK, block, cdiv


@triton.jit
def _half_operand(x, s, HALF: tl.constexpr):
    """A tile as the product takes it: float16 (scaled by s) when HALF (float16 tiles come stored so), else as is."""
    if HALF:  # noqa: SIM102  (two compile-time tests, kept apart for Triton's code generator)
        if x.dtype != tl.float16:
            x = (x * s).to(tl.float16)
    return x


@triton.jit
def _chunk_grads(S_IN, DS_NEXT, U, DU, DO_C, DW, DKD, DQD, DQK, S_AMAX, DS_AMAX,
                 C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                 HAS_W: tl.constexpr, PREC: tl.constexpr, HALF: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    NK1: tl.constexpr = (K + BK - 1) // BK + 1  # K-blocks, then the dQK program
    chunk, i_k = pid // NK1, pid % NK1  # chunk: flat index in the contiguous (B, H, NC) chunk grid
    rc = tl.arange(0, C)
    cv_base, kv_base, ck_base = chunk * C * V, chunk * K * V, chunk * C * K
    # 16-bit products: forward tensors (S_in, u) times s_f, backward ones (dS_next, du, do) times s_b, so every
    # product is s_f s_b too large (a power of two: exact to undo)
    s_f, inv_s_f = half_scale(S_AMAX, HALF)
    s_b, inv_s_b = half_scale(DS_AMAX, HALF)
    unscale = inv_s_f * inv_s_b
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
            u = _half_operand(tl.load(U + cv_off, mask=m_cv, other=0.0), s_f, HALF)  # U0 (no W) comes float32
            dqd += tl.dot(do, s_t, input_precision=PREC)
            dkd += tl.dot(u, ds_t, input_precision=PREC)
            if HAS_W:
                du = _half_operand(tl.load(DU + cv_off, mask=m_cv, other=0.0), s_b, HALF)  # always float32
                dw += tl.dot(du, s_t, input_precision=PREC)
        ck_off = ck_base + rc[:, None] * K + rk[None, :]
        m_ck = mk[None, :] & (rc[:, None] < C)
        tl.store(DKD + ck_off, dkd * unscale, mask=m_ck)
        tl.store(DQD + ck_off, dqd * unscale, mask=m_ck)
        if HAS_W:
            tl.store(DW + ck_off, -dw * unscale, mask=m_ck)
    else:  # the last program of the chunk: dQK = do u^T
        dqk = tl.zeros([C, C], dtype=tl.float32)
        for v0 in range(0, V, BV):
            rv = v0 + tl.arange(0, BV)
            m_cv = (rv < V)[None, :] & (rc[:, None] < C)
            cv_off = cv_base + rc[:, None] * V + rv[None, :]
            do = tl.load(DO_C + cv_off, mask=m_cv, other=0.0)
            u = _half_operand(tl.load(U + cv_off, mask=m_cv, other=0.0), s_f, HALF)
            dqk += tl.dot(do, tl.trans(u), input_precision=PREC)
        tl.store(DQK + chunk * C * C + rc[:, None] * C + rc[None, :], dqk * unscale)


def _tiles(C: int, K: int, V: int, half: bool) -> tuple[int, int]:
    """(BK, BV) for num_warps = 4 (128 threads). A K-block program holds three (C, BK) float32 accumulators and, per
    V step, three (C, BV) and two (BK, BV) tiles in registers: C * BK <= 2048 (BK = 64 for C <= 32, 32 for C = 64)
    and BV = 32 keep that at about 48 + 64 registers per thread, far from spilling even for "ieee" (FMA dot, whose
    operand layouts replicate), with room for several programs per SM to hide the loads of this memory-bound kernel.
    The dQK program holds one (C, C) accumulator (<= 32 registers) and two (C, BV) tiles. A larger BK would cut the
    re-reads of the (C, V) tiles across K-blocks, but those come from L2 (see the module docstring).
    float16 tiles take half the registers: BK = 64 for every C, BV = 32 (record:
    benchmarks/results/*_kernel-launch-choices_h200.md, "Chunk gradients")."""
    if half:
        return min(block(K), 64), min(block(V), 32)
    return min(block(K), 2048 // C, 64), min(block(V), 32)


def chunk_grads(S_in: torch.Tensor, dS_next: torch.Tensor, u: torch.Tensor, du: torch.Tensor, do_c: torch.Tensor,
                has_w: bool, precision: str, half_amax: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dW | None, dKd, dQd, dQK) of the module docstring, float32, from S_in, dS_next (B, H, NC, K, V) and u, du,
    do_c (B, H, NC, C, V); du is read only when has_w (dW is None otherwise). C must be a power of two >= 16 (the
    chunk sizes of the Triton paths); K and V any size.

    Without half_amax all inputs are taken as float32 and multiplied at `precision`. With half_amax = (forward amax,
    backward amax), the 0-d amaxes of the chunk-state walks (`utils/half_scale.py`), the products are float16:
    S_in, dS_next and do_c come float16 as the walks stored them (times their scales), u float16 so too or float32
    (U0, without W), du float32; float32 tiles are scaled and rounded in the kernel, the products scaled back."""
    B, H, NC, C, V = u.shape
    K = S_in.shape[-2]
    half = half_amax is not None
    if C < MIN_BLOCK or C & (C - 1):
        raise ValueError(f"chunk_grads: chunk size must be a power of two >= {MIN_BLOCK}, got {C}")
    for name, t, shape in (("S_in", S_in, (B, H, NC, K, V)), ("dS_next", dS_next, (B, H, NC, K, V)),
                           ("du", du, (B, H, NC, C, V)), ("do_c", do_c, (B, H, NC, C, V))):
        if tuple(t.shape) != shape:
            raise ValueError(f"chunk_grads: {name} must have shape {shape}, got {tuple(t.shape)}")
    if half:
        for name, t in (("S_in", S_in), ("dS_next", dS_next), ("do_c", do_c)):
            if t.dtype != torch.float16:
                raise ValueError(f"chunk_grads: with half_amax, {name} must be float16 (as the walk stores it), "
                                 f"got {t.dtype}")
        u = u.contiguous() if u.dtype == torch.float16 else u.float().contiguous()
        S_in, dS_next, do_c, du = S_in.contiguous(), dS_next.contiguous(), do_c.contiguous(), du.float().contiguous()
        s_amax, ds_amax = (a.float().reshape(()) for a in half_amax)
    else:
        S_in, dS_next, u, du, do_c = (t.float().contiguous() for t in (S_in, dS_next, u, du, do_c))
        s_amax = ds_amax = du  # placeholders, never read
    f32 = dict(dtype=torch.float32, device=u.device)
    dKd, dQd = torch.empty(B, H, NC, C, K, **f32), torch.empty(B, H, NC, C, K, **f32)
    dQK = torch.empty(B, H, NC, C, C, **f32)
    dW = torch.empty(B, H, NC, C, K, **f32) if has_w else None
    BK, BV = _tiles(C, K, V, half)
    grid = ((cdiv(K, BK) + 1) * B * H * NC,)  # per chunk: its K-blocks, then its dQK program
    # num_stages=2: the V loop's loads of step v + 1 overlap the dots of step v; one stage of tiles is at most
    # 3 (64, 32) + 2 (64, 32) floats = 40 KB, so two stages fit several programs per SM (227 KB on Hopper).
    _chunk_grads[grid](S_in, dS_next, u, du, do_c, dW if has_w else dKd, dKd, dQd, dQK, s_amax, ds_amax, C=C, K=K,
                       V=V, BK=BK, BV=BV, HAS_W=has_w, PREC=precision, HALF=half, num_warps=4, num_stages=2)
    return dW, dKd, dQd, dQK


def chunk_grads_torch(S_in: torch.Tensor, dS_next: torch.Tensor, u: torch.Tensor, du: torch.Tensor,
                      do_c: torch.Tensor, has_w: bool) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor,
                                                                torch.Tensor]:
    """The reference: the same four products as batched torch matmuls, in the inputs' dtype (float64 in the tests)."""
    dW = -(du @ S_in.transpose(-1, -2)) if has_w else None
    return dW, u @ dS_next.transpose(-1, -2), do_c @ S_in.transpose(-1, -2), do_c @ u.transpose(-1, -2)
