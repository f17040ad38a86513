"""The delta rule's chunked pass on the Triton kernels as one differentiable op: the chunk-parallel part
(`delta_rule/intra_wy_fwd.py` / `delta_rule/intra_wy_bwd.py`), then the walk over chunks (`common/chunk_state.py`).

Between the two parts lie chunk tensors the walk reads once per value block, forward and backward: W, the keys
decayed to the chunk end and the decayed queries. With L2-normalised q and k and tf32 products (bf16 / fp16 models)
they are stored in float16 (`compact`; see `intra_chunk_fwd`), which halves those reads: on an H200 (KDA, B=4,
T=4096, H=16, K=V=128) the walk took 0.94 ms forward and 1.27 ms backward with float32 chunk tensors and 0.56 /
0.64 ms with all of them in 16 bits; the walk now multiplies them in float16 as they are, with its float32
operands scaled into float16's range (`common/chunk_state.py`). As separate autograd ops (`IntraChunk`,
`ChunkState`, still used elsewhere) their gradients would come back rounded to float16, whose normal range ends at
6e-5: small gradients would lose their digits or flush to zero. Here they never leave the op: its backward runs
the walk's backward, then the intra-chunk backward, with float32 gradients in between, and returns dq, dk, dv, dg,
dbeta in the inputs' dtypes.
"""
from __future__ import annotations

import torch

from kernels.common.chunk_state import WalkSaved, state_backward, state_forward
from kernels.delta_rule.intra_wy_bwd import intra_chunk_bwd
from kernels.delta_rule.intra_wy_fwd import intra_chunk_fwd


def _forward(q, k, v, g, beta, h0, chunk_size: int, precision: str, T: int, out_dtype: torch.dtype,
             seqs: tuple[torch.Tensor, torch.Tensor] | None, compact: bool, needs_grad: bool,
             norm_q_scale: float | None) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """DeltaRuleChunk's forward: (o, S_out, what the backward reads)."""
    u0_amax = q.new_empty(1, dtype=torch.float32) if compact else None  # the walk's float16 scale, max |U0|
    U0, W, k_to_end, decay_chunk, q_decayed, qk, Ainv = intra_chunk_fwd(q, k, v, g, beta, chunk_size, precision,
                                                                         compact, u0_amax=u0_amax,
                                                                         store_ainv=needs_grad,
                                                                         norm_q_scale=norm_q_scale)
    decay = decay_chunk.expand(*decay_chunk.shape[:-1], q.shape[-1]).contiguous()  # per head: same for all rows
    o, S_out, saved = state_forward(W, U0, k_to_end, decay, q_decayed, qk, h0, precision, T, out_dtype, seqs, u0_amax)
    return o, S_out, (q, k, v, g, beta, U0, W, Ainv, k_to_end, decay, q_decayed, qk, *saved)


class DeltaRuleChunk(torch.autograd.Function):
    """(q, k, v, g, beta, h0) -> (o (B, T, H, V) in out_dtype, final state (N, H, K, V) float32); q, k, v, g
    (per head (.., 1) or per channel (.., K)), beta in any float dtype and layout; h0 float32, or None for zeros.
    `seqs`: packed sequences, chunk-aligned in one row (see `chunk_state.ChunkState`), T the packed length."""

    @staticmethod
    def forward(ctx, q, k, v, g, beta, h0, chunk_size: int, precision: str, T: int, out_dtype: torch.dtype,
                seqs: tuple[torch.Tensor, torch.Tensor] | None, compact: bool, needs_grad: bool,
                norm_q_scale: float | None):
        o, S_out, to_save = _forward(q, k, v, g, beta, h0, chunk_size, precision, T, out_dtype, seqs, compact,
                                     needs_grad, norm_q_scale)
        ctx.save_for_backward(*to_save)
        ctx.chunk_size, ctx.precision, ctx.T, ctx.seqs, ctx.has_h0 = chunk_size, precision, T, seqs, h0 is not None
        ctx.set_materialize_grads(False)  # an unused o or final state: None, no zeros to allocate and read
        return o, S_out

    @staticmethod
    def backward(ctx, do, dS_out):
        q, k, v, g, beta, U0, W, Ainv, k_to_end, decay, q_decayed, qk, *saved = ctx.saved_tensors
        dW, dU0, dKd, ddecay, dQd, dQK, dh0 = state_backward(W, k_to_end, decay, q_decayed, qk, WalkSaved(*saved),
                                                             do, dS_out, ctx.precision, ctx.T, ctx.seqs)
        if g.shape[-1] == 1:
            ddecay = ddecay.sum(-1, keepdim=True)  # the per-head decay was expanded over the key rows
        dq, dk, dv, dg, dbeta = intra_chunk_bwd(q, k, v, g, beta, ctx.chunk_size, U0, W, Ainv, dU0, dW, dKd, ddecay,
                                                dQd, dQK, precision=ctx.precision, grads_in_input_dtypes=True)
        return dq, dk, dv, dg, dbeta, dh0 if ctx.has_h0 else None, None, None, None, None, None, None, None, None


def needs_backward(*inputs: torch.Tensor | None) -> bool:
    """Whether autograd will ask for gradients of an op on these inputs (grad mode on, one of them requiring grad)."""
    return torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in inputs)


def delta_rule_chunk(q, k, v, g, beta, h0, chunk_size: int, precision: str, T: int, out_dtype: torch.dtype,
                     seqs: tuple[torch.Tensor, torch.Tensor] | None = None, compact: bool = False,
                     norm_q_scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """o, S_final of the chunked delta rule (see DeltaRuleChunk); compact only for L2-normalised q and k. Without
    a backward to come (`needs_backward`) the forward leaves out what only it reads.
    `norm_q_scale`: q and k arrive unnormalised and the intra-chunk kernel L2-normalises them (q then times this;
    see `intra_chunk_fwd`): per-head decay, compact, and only without a backward."""
    needs_grad = needs_backward(q, k, v, g, beta, h0)
    if norm_q_scale is not None and needs_grad:
        raise ValueError("delta_rule_chunk: norm_q_scale (q, k normalised in the kernel) has no backward; "
                         "normalise them beforehand (`l2norm_triton`) when gradients are needed")
    args = (q, k, v, g, beta, h0, chunk_size, precision, T, out_dtype, seqs, compact, needs_grad, norm_q_scale)
    if not needs_grad:  # no autograd node to build (its bookkeeping is host time before the first launch)
        return _forward(*args)[:2]
    return DeltaRuleChunk.apply(*args)
