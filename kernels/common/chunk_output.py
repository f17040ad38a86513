"""The chunked output o_n = Qd_n S_n + QK_n u_n as a chunk-parallel launch, after the forward walk.

The forward walk (`common/chunk_state.py`) carries S from chunk to chunk; its only serial chain is
u_n = U0_n - W_n S_n, S_{n+1} = diag(d_n) S_n + Kd_n^T u_n. The output needs S_n and u_n but feeds nothing back,
and the walk stores both anyway (for the backward), so when few walks share the GPU (B = 1: one program per
(head, V-block), each step waiting on its products) the output leaves the walk for this launch, one program per
(chunk, V-block), which reads the stored S_n and u_n back. With many walks the walk's programs fill the GPU and
computing o in place is cheaper than reading S_n again (`chunk_state.split_output`).

Operands as the walk takes them: with the 16-bit products (float16 Qd) S_n and u_n are stored float16 times the
walk's scale s (`utils/half_scale.py`), QK is rounded to float16 as the walk does, and the products are scaled back
by 1 / s; without W (linear attention) u_n is U0_n itself, float32 and unscaled. Else float32 at `PREC`.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.half_scale import half_scale
from kernels.utils.triton_support import block, cdiv


@triton.jit
def _chunk_output(QD, QK, S_IN, U, OUT, SEQ_START, CHUNK_START, CHUNK_SEQ, AMAX, NC, T, H,
                  s_ob, s_ot, s_oh, s_ov,
                  C: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                  U_SCALED: tl.constexpr, VARLEN: tl.constexpr, PREC: tl.constexpr, HALF: tl.constexpr):
    i_v, i_c, i_bh = tl.program_id(0), tl.program_id(1).to(tl.int64), tl.program_id(2).to(tl.int64)
    i_b, i_h = i_bh // H, i_bh % H
    if VARLEN:  # B = 1, chunk i_c of the chunk-aligned row belongs to document i_n (`utils/varlen_chunk_aligned.py`)
        i_n = tl.load(CHUNK_SEQ + i_c).to(tl.int64)
        n = i_c - tl.load(CHUNK_START + i_n).to(tl.int64)  # the chunk's place in its document
        bos = tl.load(SEQ_START + i_n).to(tl.int64)
        seq_len = tl.load(SEQ_START + i_n + 1).to(tl.int64) - bos
    else:
        n, bos, seq_len = i_c, i_c * 0, T
    chunk = i_bh * NC + i_c  # in the (B, H, NC) chunk grid
    rc, rk, rv = tl.arange(0, C), tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = rk < K, rv < V
    qd = tl.load(QD + chunk * C * K + rc[:, None] * K + rk[None, :], mask=mk[None, :], other=0.0)  # (C, BK)
    qk = tl.load(QK + chunk * C * C + rc[:, None] * C + rc[None, :])  # (C, C)
    S = tl.load(S_IN + chunk * K * V + rk[:, None] * V + rv[None, :], mask=mk[:, None] & mv[None, :], other=0.0)
    u = tl.load(U + chunk * C * V + rc[:, None] * V + rv[None, :], mask=mv[None, :], other=0.0)  # (C, BV)
    if HALF:
        s, inv_s = half_scale(AMAX, HALF)
        if not U_SCALED:
            u = (u.to(tl.float32) * s).to(tl.float16)
        o = (tl.dot(qd, S) + tl.dot(qk.to(tl.float16), u)) * inv_s
    else:
        o = tl.dot(qd.to(tl.float32), S.to(tl.float32), input_precision=PREC) \
            + tl.dot(qk.to(tl.float32), u.to(tl.float32), input_precision=PREC)
    t = n * C + rc.to(tl.int64)  # tokens of the chunk in its sequence; those past its end are the zero padding
    out = OUT + i_b * s_ob + i_h * s_oh + (bos + t[:, None]) * s_ot + rv[None, :] * s_ov
    tl.store(out, o, mask=(t < seq_len)[:, None] & mv[None, :])


def chunk_output(Qd: torch.Tensor, QK: torch.Tensor, S_in: torch.Tensor, u: torch.Tensor, o: torch.Tensor,
                 amax: torch.Tensor, half: bool, u_scaled: bool, precision: str,
                 seqs: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    """Write o (B, T, H, V), any float dtype and strides, from the walk's chunk tensors (B, H, NC, C | K, .):
    Qd, QK and the stored S_in, u (see the module docstring for their dtypes). `seqs` as in the walk."""
    B, H, NC, C, V = u.shape
    K = Qd.shape[-1]
    if seqs is None:
        seq_starts = chunk_starts = chunk_seq = QK  # unread without VARLEN
    else:
        seq_starts, chunk_starts = seqs
        chunk_seq = chunk_documents(chunk_starts, NC)
    BV = min(block(V), 128 if K <= 128 else 64)
    grid = (cdiv(V, BV), NC, B * H)
    _chunk_output[grid](Qd, QK, S_in, u, o, seq_starts, chunk_starts, chunk_seq, amax, NC, o.shape[1], H,
                        *o.stride(), C=C, K=K, V=V, BK=block(K), BV=BV, U_SCALED=u_scaled, VARLEN=seqs is not None,
                        PREC=precision, HALF=half, num_warps=4 if BV * block(K) <= 128 * 128 else 8)


def chunk_documents(chunk_starts: torch.Tensor, num_chunks: int) -> torch.Tensor:
    """int32 (num_chunks,): the document each chunk of the chunk-aligned row belongs to, from its (N + 1,) offsets."""
    chunks = torch.arange(num_chunks, device=chunk_starts.device, dtype=chunk_starts.dtype)
    return (torch.searchsorted(chunk_starts, chunks, right=True) - 1).to(torch.int32)
