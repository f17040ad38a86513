"""Chunked gated delta rule on the Triton backend: two fused kernel pairs, chunk-parallel part then chunk recurrence.

Same algorithm and plumbing as the PyTorch path (`chunk.py`). The chunk-parallel part (decayed scores, the
unit-lower-triangular WY/UT solve, U0 and W) is one Triton kernel per chunk forward and one or two backward
(`kernels/delta_rule/intra_wy_fwd.py` / `delta_rule/intra_wy_bwd.py`, the fused form of `intra_chunk`), in float32 with
log-space
decays; the sequential walk over chunks, which PyTorch runs as a Python loop of T / C steps, is one Triton kernel
forward and one backward (`kernels/common/chunk_state.py`). Both run as one autograd op
(`kernels/delta_rule/chunk_triton_op.py`), whose chunk tensors in between may be float16 (see `compact` below).

The kernels read q, k, v, g and beta in the caller's dtype (bf16 / fp16 / fp32), in place, and compute in float32:
nothing is upcast beforehand (`kernels/utils/runner_triton.py`; q and k are float32 after the fused L2 norm), and the
backward kernels write the gradients in the inputs' dtypes. float64 inputs stay on the PyTorch path; chunks are
clamped to [16, 64] tokens because tl.dot needs 16-wide tiles and the state tiles must fit in registers (results do
not depend on the chunk beyond rounding).
"""
from __future__ import annotations

import torch

from kernels.utils.chunking import effective_chunk_size
from kernels.delta_rule.chunk import as_channel_gate, chunk_gated_delta_rule_torch
from kernels.delta_rule.chunk_triton_op import delta_rule_chunk, needs_backward
from kernels.utils.runner_triton import run_triton_core
from kernels.utils.triton_support import MIN_BLOCK, dot_precision

MAX_CHUNK = 64


def triton_chunk_size(chunk_size: int, T: int) -> int:
    """The chunk the Triton path uses: a power of two in [16, 64], no longer than T needs."""
    return max(MIN_BLOCK, min(MAX_CHUNK, effective_chunk_size(chunk_size, T)))


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
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    if q.dtype == torch.float64:
        return chunk_gated_delta_rule_torch(q, k, v, g, beta, scale, initial_state, output_final_state, cu_seqlens,
                                            use_qk_l2norm_in_kernel, chunk_size)
    precision, out_dtype = dot_precision(q.dtype), q.dtype
    g = as_channel_gate(g, beta)

    # float16 chunk tensors between the two parts (`delta_rule/chunk_triton_op.py`) where q and k are unit vectors and
    # the
    # products tf32 anyway; float32 for fp32 models and unnormalised q / k (no bound on their magnitude)
    compact = use_qk_l2norm_in_kernel and precision != "ieee"
    # and, with no backward to come, the normalised q and k in float16 too: half the bytes written and read again,
    # rounded once more to the 11 bits the tf32 products keep anyway. With a backward they stay float32: their
    # gradients come back in their dtype, and float16's range would lose the small ones
    # (`delta_rule/chunk_triton_op.py`).
    needs_grad = needs_backward(q, k, v, g, beta, initial_state)
    norm_dtype = torch.float16 if compact and not needs_grad else torch.float32
    # With one decay per head and no backward, the intra-chunk kernel normalises q and k itself as it reads them
    # (the same float16 values, without the L2-norm launches and their round trip through memory)
    norm_in_kernel = compact and not needs_grad and g.shape[-1] == 1

    def core(q, k, v, g, beta, h0, chunk, layout):
        # packed documents (layout) arrive chunk-aligned in one row: the per-chunk kernel runs on it unchanged
        # the products keep the precision of the caller's dtype, also where q and k arrive float32 (L2 norm)
        T, seqs = (q.shape[1], None) if layout is None else (layout.total, (layout.seq_starts, layout.chunk_starts))
        return delta_rule_chunk(q, k, v, g, beta, h0, chunk, precision, T, out_dtype, seqs, compact,
                                scale if norm_in_kernel else None)

    return run_triton_core(core, q, k, v, (g, beta), 1.0 if norm_in_kernel else scale, initial_state,
                           output_final_state, cu_seqlens, use_qk_l2norm_in_kernel and not norm_in_kernel,
                           lambda T: triton_chunk_size(chunk_size, T), norm_dtype)
