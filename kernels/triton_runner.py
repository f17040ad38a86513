"""Plumbing shared by the Triton chunk paths: q/k normalisation and scale, initial state, packed sequences.

The PyTorch paths' runner (`torch_runner.py: run_core`) upcasts q, k, v and the gates to float32 copies first,
because eager PyTorch computes in its operands' dtype. The Triton kernels read every input in place, in any float
dtype and with any strides, and compute in float32, so here the caller's tensors reach the core as they are
(bf16 / fp16 / fp32; float64 never comes here). Only q and k may be rewritten first:
  - use_qk_l2norm: both go through the fused L2-norm kernel (`triton_l2norm.py`, q's scale folded in), whose
    float32 outputs the core then reads;
  - otherwise q is scaled in float32 (`q.float() * scale`, skipped for scale 1.0; the models always normalise, or,
    for linear attention, pass scale 1.0).
The state is float32 (h0 included), whatever the inputs; o comes back in q's dtype.
"""
from __future__ import annotations

import torch

from kernels.packing import packed_layout
from kernels.torch_runner import Core
from kernels.triton_l2norm import l2norm_triton


def run_triton_core(
    core: Core,
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    per_token: tuple[torch.Tensor, ...],  # gates, each (B, T, H, ...)
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,  # (N + 1,)
    use_qk_l2norm: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Call core(q, k, v, *per_token, h0) -> (o, S) with q scaled (and q, k normalised when asked), the other inputs
    untouched, h0 float32; packed sequences as a padded batch. Returns (o in q's dtype, S or None)."""
    out_dtype = q.dtype
    if use_qk_l2norm:
        q, k = l2norm_triton(q, scale), l2norm_triton(k)
    elif scale != 1.0:
        q = q.float() * scale

    layout = None if cu_seqlens is None else packed_layout(cu_seqlens)
    if layout is not None:
        q, k, v = (layout.pad(x) for x in (q, k, v))
        per_token = tuple(layout.pad(x) for x in per_token)
    B, _, H, K = q.shape
    h0 = q.new_zeros(B, H, K, v.shape[-1], dtype=torch.float32) if initial_state is None else initial_state.float()

    o, state = core(q, k, v, *per_token, h0)
    if layout is not None:
        o = layout.unpad(o)
    return o.to(out_dtype), (state if output_final_state else None)
