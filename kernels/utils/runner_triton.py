"""Plumbing shared by the Triton chunk paths: q/k normalisation and scale, initial state, packed sequences.

The PyTorch paths' runner (`runner_torch.py: run_core`) upcasts q, k, v and the gates to float32 copies first,
because eager PyTorch computes in its operands' dtype. The Triton kernels read every input in place, in any float
dtype and with any strides, and compute in float32, so here the caller's tensors reach the core as they are
(bf16 / fp16 / fp32; float64 never comes here). Only q and k may be rewritten first:
  - use_qk_l2norm: both go through the fused L2-norm kernel (`utils/l2norm_triton.py`, q's scale folded in), whose
    outputs (float32, or the caller's `norm_dtype`) the core then reads;
  - otherwise q is scaled in float32 (`q.float() * scale`, skipped for scale 1.0; the models always normalise, or,
    for linear attention, pass scale 1.0).
The state is float32 (h0 included), whatever the inputs; o comes back in q's dtype.

Packed sequences (cu_seqlens) reach the core chunk-aligned (`utils/varlen_chunk_aligned.py`): each document zero-padded
to whole
chunks, all in one (1, T', ...) row, not the (N, L_max, ...) batch of the PyTorch paths, whose padding to the longest
document is most of the batch when documents are short. The core gets the layout, so that its chunk-state kernels
walk each document on its own and write o straight into the packed (1, T, H, V) row.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from kernels.utils.varlen_chunk_aligned import ChunkAlignedLayout, chunk_aligned_layout
from kernels.utils.l2norm_triton import l2norm_pair_triton
from kernels.utils.pad_rows_triton import pad_rows

TritonCore = Callable[..., tuple[torch.Tensor, torch.Tensor]]
"""core(q, k, v, *per_token, h0, chunk, layout) -> (o (B, T, H, V), S (N, H, K, V)); layout a ChunkAlignedLayout
(q, k, v and per_token then in its (1, T', ...) row, o in the packed (1, T, ...) one) or None (one sequence per
batch row)."""


def run_triton_core(
    core: TritonCore,
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    per_token: tuple[torch.Tensor, ...],  # gates, each (B, T, H, ...)
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,  # (N + 1,)
    use_qk_l2norm: bool,
    chunk_for: Callable[[int], int],  # sequence length -> the chunk the kernels use
    norm_dtype: torch.dtype = torch.float32,  # of the L2-normalised q and k
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Call core(q, k, v, *per_token, h0, chunk, layout) -> (o, S) with q scaled (and q, k normalised when asked), the
    other inputs untouched, h0 float32 (None without initial_state: zero states); packed sequences chunk-aligned, with
    chunk_for(longest document) as the chunk. Returns (o in q's dtype, S or None)."""
    out_dtype = q.dtype
    if use_qk_l2norm:
        q, k = l2norm_pair_triton(q, k, scale, out_dtype=norm_dtype)  # one launch for both
    elif scale != 1.0:
        q = q.float() * scale

    layout: ChunkAlignedLayout | None = None
    if cu_seqlens is None:
        chunk = chunk_for(q.shape[1])
    else:
        layout = chunk_aligned_layout(cu_seqlens, chunk_for)
        chunk = layout.chunk
        q, k, v, *per_token = pad_rows(layout.src, layout.slot, q, k, v, *per_token)  # one launch each way
    h0 = None if initial_state is None else initial_state.float()  # None: zero states, never allocated nor read

    o, state = core(q, k, v, *per_token, h0, chunk, layout)
    return o.to(out_dtype), (state if output_final_state else None)
