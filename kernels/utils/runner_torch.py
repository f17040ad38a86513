"""Plumbing shared by every PyTorch path: dtypes, q/k normalisation and scale, initial state, packed sequences.

The cores (chunked or recurrent) then see dense (B, T, H, .) tensors in one compute dtype and return (o, state).
The compute dtype is float32 for float32/bf16/fp16 inputs, so the state always accumulates in float32; float64
inputs stay float64, which is what lets the tests hold the fast paths to ~1e-8 against the float64 reference.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from kernels.utils.l2norm import l2norm
from kernels.utils.varlen_padded import packed_layout

Core = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the math and the state run in for inputs of `dtype`."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def run_core(
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
    """Call core(q, k, v, *per_token, h0) -> (o, S) on dense compute-dtype tensors; cast o back to the input dtype."""
    out_dtype, dtype = q.dtype, compute_dtype(q.dtype)
    q, k, v = (x.to(dtype) for x in (q, k, v))
    per_token = tuple(x.to(dtype) for x in per_token)
    if use_qk_l2norm:
        q, k = l2norm(q), l2norm(k)
    q = q * scale

    layout = None if cu_seqlens is None else packed_layout(cu_seqlens)
    if layout is not None:
        q, k, v = (layout.pad(x) for x in (q, k, v))
        per_token = tuple(layout.pad(x) for x in per_token)
    B, _, H, K = q.shape
    h0 = q.new_zeros(B, H, K, v.shape[-1]) if initial_state is None else initial_state.to(dtype)

    o, state = core(q, k, v, *per_token, h0)
    if layout is not None:
        o = layout.unpad(o)
    return o.to(out_dtype), (state if output_final_state else None)
