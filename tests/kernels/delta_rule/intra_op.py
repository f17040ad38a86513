"""The delta rule's chunk-parallel part on the Triton kernels as one differentiable op, for the tests (the library
runs it inside `kernels/delta_rule/chunk_triton.py: DeltaRuleChunk`).

Forward: `intra_wy_fwd.py: intra_chunk_fwd`. Backward: `intra_wy_bwd.py: intra_chunk_bwd`, from the inputs and the
forward's saved U0, W and Ainv, or `intra_chunk_bwd_torch`: the same contract by autograd through the PyTorch
`intra_chunk`, the slow, obviously-correct fallback when a kernel is in doubt.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.delta_rule.chunk import intra_chunk
from kernels.delta_rule.intra_wy_bwd import intra_chunk_bwd
from kernels.delta_rule.intra_wy_fwd import intra_chunk_fwd


def intra_chunk_bwd_torch(q, k, v, g, beta, chunk_size: int, U0, W, Ainv, *grads, precision: str | None = None,
                          grads_in_input_dtypes: bool = False) -> tuple[torch.Tensor, ...]:
    """`intra_chunk_bwd`'s contract (U0, W, Ainv unused) by autograd through the float32 PyTorch `intra_chunk`."""
    T = q.shape[1]
    pad = -T % chunk_size  # padded to whole chunks, so intra_chunk never shrinks the chunk for a short T
    with torch.enable_grad():
        leaves = [x.detach().float().requires_grad_() for x in (q, k, v, g, beta)]
        padded = [F.pad(x, (0, 0) * (x.dim() - 2) + (0, pad)) for x in leaves]  # pad dim 1 (time) at the end
        outs = intra_chunk(*padded, chunk_size)
        dx = torch.autograd.grad(outs, leaves, [torch.zeros_like(o) if d is None else d for o, d in zip(outs, grads)],
                                 allow_unused=True, materialize_grads=True)
    return tuple(d.to(x.dtype) for d, x in zip(dx, (q, k, v, g, beta))) if grads_in_input_dtypes else dx


class IntraChunk(torch.autograd.Function):
    """(q, k, v, g, beta) -> (U0, W, k_to_end, decay_chunk, q_decayed, qk), float32 chunked (B, H, N, C, .).

    Inputs in any float dtype (each its own) and layout; the backward kernels write each gradient in its input's
    dtype directly."""

    @staticmethod
    def forward(ctx, q, k, v, g, beta, chunk_size: int, precision: str | None, backward):
        U0, W, k_to_end, decay_chunk, q_decayed, qk, Ainv = intra_chunk_fwd(q, k, v, g, beta, chunk_size, precision)
        ctx.save_for_backward(q, k, v, g, beta, U0, W, Ainv)
        ctx.chunk_size, ctx.precision, ctx.backward = chunk_size, precision, backward
        return U0, W, k_to_end, decay_chunk, q_decayed, qk

    @staticmethod
    def backward(ctx, dU0, dW, dk_to_end, ddecay_chunk, dq_decayed, dqk):
        q, k, v, g, beta, U0, W, Ainv = ctx.saved_tensors
        grads = ctx.backward(q, k, v, g, beta, ctx.chunk_size, U0, W, Ainv, dU0, dW, dk_to_end, ddecay_chunk,
                             dq_decayed, dqk, precision=ctx.precision, grads_in_input_dtypes=True)
        return (*grads, None, None, None)


def intra_chunk_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta: torch.Tensor,
                       chunk_size: int, precision: str | None = None,
                       backward=intra_chunk_bwd) -> tuple[torch.Tensor, ...]:
    """Differentiable `delta_rule/chunk.py: intra_chunk` (same arguments and six outputs, float32) on the Triton
    kernels; chunk_size in {16, 32, 64}, `precision` tl.dot's (default: from the input dtype). `backward`: the
    kernel's, or `intra_chunk_bwd_torch` (same arguments, same results up to rounding)."""
    return IntraChunk.apply(q, k, v, g, beta, chunk_size, precision, backward)
