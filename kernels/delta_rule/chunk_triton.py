"""Chunked delta rule on the Triton backend (GDN, KDA, DeltaNet): the forward and the backward as named steps.

    forward:   [l2norm q, k]  ->  intra-chunk scores + WY solve  ->  chunk-state recurrence (+ output)
               utils/l2norm_triton  delta_rule/intra_wy_fwd (+ intra_wy_u0_w)  common/chunk_state (+ chunk_output)
    backward:  chunk-state recurrence backward (+ chunk grads)  ->  intra-chunk / WY backward
               common/chunk_state, common/chunk_grads                 delta_rule/intra_wy_bwd

Both parts run as one autograd op, `DeltaRuleChunk`, so the chunk tensors between them may be float16 (`compact`,
where q and k are L2-normalised and the products tf32 anyway) while their gradients stay float32: as two ops, those
gradients would come back rounded to float16 (normal range from 6e-5) and small ones would flush to zero.

The kernels read q, k, v, g and beta in the caller's dtype, in place, and compute in float32 (`utils/runner_triton.py`);
the backward kernels write the gradients in the inputs' dtypes. float64 inputs stay on the PyTorch path (`chunk.py`).
"""
from __future__ import annotations

import torch

from kernels.common.chunk_state import WalkSaved, state_backward, state_forward
from kernels.delta_rule.chunk import as_channel_gate, chunk_gated_delta_rule_torch
from kernels.delta_rule.intra_wy_bwd import intra_chunk_bwd
from kernels.delta_rule.intra_wy_fwd import intra_chunk_fwd
from kernels.utils.chunking import triton_chunk_size
from kernels.utils.launch import DEFAULT_LAUNCH, LaunchConfig
from kernels.utils.runner_triton import run_triton_core
from kernels.utils.triton_support import dot_precision

Seqs = tuple[torch.Tensor, torch.Tensor] | None
"""Packed sequences chunk-aligned in one row: (seq_starts, chunk_starts), int32 (N + 1,) each; None: one per row."""


def intra_chunk(q, k, v, g, beta, *, chunk_size: int, precision: str, compact: bool, u0_amax: torch.Tensor | None,
                store_ainv: bool, norm_q_scale: float | None, launch: LaunchConfig) -> tuple[torch.Tensor, ...]:
    """The intra-chunk part: decayed scores, the WY/UT solve Ainv = (I + A)^-1, U0 = Ainv beta v, W = Ainv beta k e^G;
    (U0, W, k_to_end, decay over the key rows, q_decayed, qk, Ainv). The forward runs it, and the recomputing
    backward runs it again on the same inputs for the same values."""
    U0, W, k_to_end, decay_chunk, q_decayed, qk, Ainv = intra_chunk_fwd(
        q=q, k=k, v=v, g=g, beta=beta, chunk_size=chunk_size, precision=precision, compact=compact, u0_amax=u0_amax,
        store_ainv=store_ainv, norm_q_scale=norm_q_scale, launch=launch)
    decay = decay_chunk.expand(*decay_chunk.shape[:-1], q.shape[-1]).contiguous()  # per head: same for all rows
    return U0, W, k_to_end, decay, q_decayed, qk, Ainv


def chunk_gated_delta_rule_fwd(*, q, k, v, g, beta, h0, chunk_size: int, precision: str, T: int,
                               out_dtype: torch.dtype, seqs: Seqs, compact: bool, needs_grad: bool,
                               norm_q_scale: float | None, launch: LaunchConfig
                               ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """The forward: (o (B, T, H, V), S_out (N, H, K, V) float32, what the backward reads). `needs_grad`: keep Ainv
    for the backward; `norm_q_scale`: q and k arrive unnormalised and the intra-chunk kernel L2-normalises them (q
    then times this): per-head decay, compact, and only without a backward."""
    if norm_q_scale is not None and needs_grad:
        raise ValueError("chunk_gated_delta_rule_fwd: norm_q_scale (q, k normalised in the kernel) has no backward; "
                         "normalise them beforehand (`l2norm_triton`) when gradients are needed")
    u0_amax = q.new_empty(1, dtype=torch.float32) if compact else None  # the walk's float16 scale, max |U0|
    U0, W, k_to_end, decay, q_decayed, qk, Ainv = intra_chunk(
        q, k, v, g, beta, chunk_size=chunk_size, precision=precision, compact=compact, u0_amax=u0_amax,
        store_ainv=needs_grad, norm_q_scale=norm_q_scale, launch=launch)
    # state recurrence over chunks: u = U0 - W S, o = (q e^G) S + QK u, S' = diag(e^{G_C}) S + (k e^{G_C - G})^T u
    o, S_out, walk_saved = state_forward(
        W=W, U0=U0, Kd=k_to_end, decay=decay, Qd=q_decayed, QK=qk, h0=h0, precision=precision, T=T,
        out_dtype=out_dtype, seqs=seqs, u0_amax=u0_amax, launch=launch)
    return o, S_out, (q, k, v, g, beta, U0, W, Ainv, k_to_end, decay, q_decayed, qk, *walk_saved)


def chunk_gated_delta_rule_bwd(*, do, dS_out, q, k, v, g, beta, U0, W, Ainv, k_to_end, decay, q_decayed, qk,
                               walk_saved: WalkSaved, chunk_size: int, precision: str, T: int, seqs: Seqs
                               ) -> tuple[torch.Tensor, ...]:
    """The backward from the forward's saved tensors: (dq, dk, dv, dg, dbeta in the inputs' dtypes, dh0 float32)."""
    # state recurrence backward (reverse walk), then the chunk-parallel gradient products
    dW, dU0, dKd, ddecay, dQd, dQK, dh0 = state_backward(
        W=W, Kd=k_to_end, decay=decay, Qd=q_decayed, QK=qk, saved=walk_saved, do=do, dS_out=dS_out,
        precision=precision, T=T, seqs=seqs)
    if g.shape[-1] == 1:
        ddecay = ddecay.sum(-1, keepdim=True)  # the per-head decay was expanded over the key rows
    # intra-chunk / WY backward: through the solve and the scores to the inputs
    dq, dk, dv, dg, dbeta = intra_chunk_bwd(
        q=q, k=k, v=v, g=g, beta=beta, chunk_size=chunk_size, U0=U0, W=W, Ainv=Ainv, dU0=dU0, dW=dW, dk_to_end=dKd,
        ddecay_chunk=ddecay, dq_decayed=dQd, dqk=dQK, precision=precision, grads_in_input_dtypes=True)
    return dq, dk, dv, dg, dbeta, dh0


class DeltaRuleChunk(torch.autograd.Function):
    """(q, k, v, g, beta, h0) -> (o (B, T, H, V) in out_dtype, final state (N, H, K, V) float32); q, k, v, g
    (per head (.., 1) or per channel (.., K)), beta in any float dtype and layout; h0 float32, or None for zeros."""

    @staticmethod
    def forward(ctx, q, k, v, g, beta, h0, chunk_size: int, precision: str, T: int, out_dtype: torch.dtype,
                seqs: Seqs, compact: bool, launch: LaunchConfig):
        o, S_out, to_save = chunk_gated_delta_rule_fwd(
            q=q, k=k, v=v, g=g, beta=beta, h0=h0, chunk_size=chunk_size, precision=precision, T=T,
            out_dtype=out_dtype, seqs=seqs, compact=compact, needs_grad=True, norm_q_scale=None, launch=launch)
        if launch.recompute:  # keep the inputs and the walk's tensors; the backward redoes the intra-chunk part
            to_save = (*to_save[:5], *to_save[12:])
        ctx.save_for_backward(*to_save)
        ctx.chunk_size, ctx.precision, ctx.T, ctx.seqs, ctx.has_h0 = chunk_size, precision, T, seqs, h0 is not None
        ctx.compact, ctx.launch = compact, launch
        ctx.set_materialize_grads(False)  # an unused o or final state: None, no zeros to allocate and read
        return o, S_out

    @staticmethod
    def backward(ctx, do, dS_out):
        if ctx.launch.recompute:
            q, k, v, g, beta, *walk_saved = ctx.saved_tensors
            U0, W, k_to_end, decay, q_decayed, qk, Ainv = intra_chunk(
                q, k, v, g, beta, chunk_size=ctx.chunk_size, precision=ctx.precision, compact=ctx.compact,
                u0_amax=None, store_ainv=True, norm_q_scale=None, launch=ctx.launch)  # the walk's scale is saved
        else:
            q, k, v, g, beta, U0, W, Ainv, k_to_end, decay, q_decayed, qk, *walk_saved = ctx.saved_tensors
        dq, dk, dv, dg, dbeta, dh0 = chunk_gated_delta_rule_bwd(
            do=do, dS_out=dS_out, q=q, k=k, v=v, g=g, beta=beta, U0=U0, W=W, Ainv=Ainv, k_to_end=k_to_end,
            decay=decay, q_decayed=q_decayed, qk=qk, walk_saved=WalkSaved(*walk_saved), chunk_size=ctx.chunk_size,
            precision=ctx.precision, T=ctx.T, seqs=ctx.seqs)
        return dq, dk, dv, dg, dbeta, dh0 if ctx.has_h0 else None, None, None, None, None, None, None, None


def needs_backward(*inputs: torch.Tensor | None) -> bool:
    """Whether autograd will ask for gradients of an op on these inputs (grad mode on, one of them requiring grad)."""
    return torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in inputs)


def chunk_gated_delta_rule_triton(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) per-head or (B, T, H, K) per-channel log decay; None: no decay
    beta: torch.Tensor,  # (B, T, H)
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
    use_qk_l2norm_in_kernel: bool,
    chunk_size: int,
    launch: LaunchConfig = DEFAULT_LAUNCH,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    if q.dtype == torch.float64:
        return chunk_gated_delta_rule_torch(q=q, k=k, v=v, g=g, beta=beta, scale=scale, initial_state=initial_state,
                                            output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                                            use_qk_l2norm_in_kernel=use_qk_l2norm_in_kernel, chunk_size=chunk_size)
    precision, out_dtype = dot_precision(q.dtype), q.dtype
    g = as_channel_gate(g, beta)
    # float16 chunk tensors between the two parts where q and k are unit vectors and the products tf32 anyway;
    # float32 for fp32 models and unnormalised q / k (no bound on their magnitude)
    compact = use_qk_l2norm_in_kernel and precision != "ieee"
    # with no backward to come, the normalised q and k in float16 too (rounded once more to the 11 bits the tf32
    # products keep); with one they stay float32, as float16's range would lose their small gradients
    needs_grad = needs_backward(q, k, v, g, beta, initial_state)
    norm_dtype = torch.float16 if compact and not needs_grad else torch.float32
    # with one decay per head and no backward, the intra-chunk kernel normalises q and k as it reads them
    # (the same float16 values, without the L2-norm launch and its round trip through memory)
    norm_in_kernel = compact and not needs_grad and g.shape[-1] == 1

    def core(q, k, v, g, beta, h0, chunk, layout):
        # packed documents (layout) arrive chunk-aligned in one row: the per-chunk kernels run on it unchanged
        T, seqs = (q.shape[1], None) if layout is None else (layout.total, (layout.seq_starts, layout.chunk_starts))
        if needs_grad:
            return DeltaRuleChunk.apply(q, k, v, g, beta, h0, chunk, precision, T, out_dtype, seqs, compact, launch)
        # no autograd node to build (its bookkeeping is host time before the first launch)
        o, S_out, _ = chunk_gated_delta_rule_fwd(
            q=q, k=k, v=v, g=g, beta=beta, h0=h0, chunk_size=chunk, precision=precision, T=T, out_dtype=out_dtype,
            seqs=seqs, compact=compact, needs_grad=False, norm_q_scale=scale if norm_in_kernel else None,
            launch=launch)
        return o, S_out

    return run_triton_core(core, q, k, v, (g, beta), scale=1.0 if norm_in_kernel else scale,
                           initial_state=initial_state, output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                           use_qk_l2norm=use_qk_l2norm_in_kernel and not norm_in_kernel,
                           chunk_for=lambda T: triton_chunk_size(chunk_size, T), norm_dtype=norm_dtype)
