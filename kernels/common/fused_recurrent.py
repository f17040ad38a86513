"""Triton token-by-token kernel for decoding (fused recurrent form), shared by the delta rule and linear attention.

One program per (sequence, head, V-block) holds its (K, BV) slice of the state in float32 registers and walks the
sequence's tokens: decay (none, per head or per key channel, from log space), the delta-rule write (or the plain
k v^T write without beta), then o_t = S_t^T (scale q_t). q/k L2 normalisation and cu_seqlens offsets are done in
the kernel, so a decode step is one launch. Forward only: decoding needs no gradient, and a call that does need
one is routed to the chunked Triton path by the callers (same function, up to rounding).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.triton_support import block, cdiv

GATE_NONE, GATE_HEAD, GATE_CHANNEL = 0, 1, 2


@triton.jit
def _fused_recurrent_fwd(Q, K_, V_, G, BETA, H0, OUT, HT, CU, scale, T, H,
                         K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                         GATE: tl.constexpr, HAS_BETA: tl.constexpr, HAS_H0: tl.constexpr, STORE_FINAL: tl.constexpr,
                         L2NORM: tl.constexpr, VARLEN: tl.constexpr):
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    if VARLEN:
        bos, eos = tl.load(CU + i_n).to(tl.int64), tl.load(CU + i_n + 1).to(tl.int64)
    else:
        bos = i_n.to(tl.int64) * T
        eos = bos + T
    rk, rv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = rk < K, rv < V
    m_kv = mk[:, None] & mv[None, :]
    state_off = i_nh.to(tl.int64) * K * V + rk[:, None] * V + rv[None, :]
    if HAS_H0:  # noqa: SIM108 -- constexpr branch, one side is never compiled
        S = tl.load(H0 + state_off, mask=m_kv, other=0.0).to(tl.float32)
    else:
        S = tl.zeros([BK, BV], dtype=tl.float32)
    for t in range(bos, eos):
        row = t * H + i_h  # token t, head i_h in the (B*T, H) flattening
        q = tl.load(Q + row * K + rk, mask=mk, other=0.0).to(tl.float32)
        k = tl.load(K_ + row * K + rk, mask=mk, other=0.0).to(tl.float32)
        v = tl.load(V_ + row * V + rv, mask=mv, other=0.0).to(tl.float32)
        if L2NORM:
            q = q / tl.sqrt(tl.sum(q * q) + 1e-6)
            k = k / tl.sqrt(tl.sum(k * k) + 1e-6)
        q = q * scale
        if GATE == 1:
            S = S * tl.exp(tl.load(G + row).to(tl.float32))
        if GATE == 2:
            S = S * tl.exp(tl.load(G + row * K + rk, mask=mk, other=0.0).to(tl.float32))[:, None]
        if HAS_BETA:
            err = v - tl.sum(S * k[:, None], 0)  # (BV,) v - S^T k
            S = S + k[:, None] * (tl.load(BETA + row).to(tl.float32) * err)[None, :]
        else:
            S = S + k[:, None] * v[None, :]
        o = tl.sum(S * q[:, None], 0)
        tl.store(OUT + row * V + rv, o.to(OUT.dtype.element_ty), mask=mv)
    if STORE_FINAL:
        tl.store(HT + state_off, S, mask=m_kv)


def fused_recurrent_triton(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # None, (B, T, H) or (B, T, H, K) log decay
    beta: torch.Tensor | None,  # (B, T, H) for the delta rule, None for linear attention
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
    use_qk_l2norm: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One launch over all tokens; returns (o (B, T, H, V) in q's dtype, final state (N, H, K, V) float32 or None)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    N = B if cu_seqlens is None else cu_seqlens.numel() - 1
    q, k, v = (x.contiguous() for x in (q, k, v))
    gate = GATE_NONE if g is None else (GATE_HEAD if g.dim() == 3 else GATE_CHANNEL)
    g = q if g is None else g.contiguous()
    beta = q if beta is None else beta.contiguous()
    h0 = q if initial_state is None else initial_state.contiguous()
    cu = q if cu_seqlens is None else cu_seqlens.contiguous()
    o = torch.empty_like(v)
    ht = q.new_empty(N, H, K, V, dtype=torch.float32) if output_final_state else o
    BV = min(block(V), 32)
    grid = (cdiv(V, BV), N * H)
    _fused_recurrent_fwd[grid](q, k, v, g, beta, h0, o, ht, cu, scale, T, H, K=K, V=V, BK=block(K), BV=BV,
                               GATE=gate, HAS_BETA=beta is not q, HAS_H0=initial_state is not None,
                               STORE_FINAL=output_final_state, L2NORM=use_qk_l2norm, VARLEN=cu_seqlens is not None)
    return o, (ht if output_final_state else None)


def needs_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd will want gradients through these inputs (then the chunked path runs instead)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
