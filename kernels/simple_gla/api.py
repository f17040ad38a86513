"""Public entry points of decayed linear attention (simple GLA; lightning is a constant per-head decay), FLA-style.

Return (o (B, T, H, V) in the input dtype, final state (N, H, K, V) in float32 -- float64 for float64 inputs -- or
None).
"""
from __future__ import annotations

import torch

from kernels.backend import resolve_backend
from kernels.simple_gla.chunk import chunk_simple_gla_torch
from kernels.simple_gla.fused_recurrent import fused_recurrent_simple_gla_torch
from kernels.utils.launch import LaunchConfig
from kernels.utils.triton_support import check_triton_device
from kernels.utils.validate import GATE_HEAD, check_inputs


def _chunk_triton(**kwargs):
    from kernels.simple_gla.chunk_triton import chunk_simple_gla_triton  # lazy: importing Triton is opt-in

    return chunk_simple_gla_triton(**kwargs)


def _recurrent_triton(**kwargs):
    from kernels.simple_gla.fused_recurrent_triton import fused_recurrent_simple_gla_triton

    return fused_recurrent_simple_gla_triton(**kwargs)


_CHUNK = {"torch": chunk_simple_gla_torch, "triton": _chunk_triton}
_RECURRENT = {"torch": fused_recurrent_simple_gla_torch, "triton": _recurrent_triton}

Out = tuple[torch.Tensor, "torch.Tensor | None"]


def chunk_simple_gla(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None = None,  # (B, T, H) log decay per head, <= 0; None: no decay
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,  # (N + 1,) int, [0, ..., T], with B == 1
    chunk_size: int = 64,
    launch: LaunchConfig | None = None,  # the Triton path's launch choices; None: the defaults
) -> Out:
    """S_t = exp(g_t) S_{t-1} + k_t v_t^T, o_t = S_t^T (scale q_t); chunked, for training and prefill."""
    check_inputs("chunk_simple_gla", q, k, v, g=g, gate=GATE_HEAD, g_optional=True, scale=scale,
                 initial_state=initial_state, cu_seqlens=cu_seqlens, chunk_size=chunk_size)
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    backend = resolve_backend(q.device)
    launch_kw = {}
    if backend == "triton":
        check_triton_device("chunk_simple_gla", q)
        launch_kw = {} if launch is None else {"launch": launch}
    return _CHUNK[backend](q=q, k=k, v=v, g=g, scale=scale, initial_state=initial_state,
                           output_final_state=output_final_state, cu_seqlens=cu_seqlens, chunk_size=chunk_size,
                           **launch_kw)


def fused_recurrent_simple_gla(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None = None,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
) -> Out:
    """Token-by-token chunk_simple_gla, for decoding."""
    check_inputs("fused_recurrent_simple_gla", q, k, v, g=g, gate=GATE_HEAD, g_optional=True, scale=scale,
                 initial_state=initial_state, cu_seqlens=cu_seqlens)
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    backend = resolve_backend(q.device)
    if backend == "triton":
        check_triton_device("fused_recurrent_simple_gla", q)
    return _RECURRENT[backend](q=q, k=k, v=v, g=g, scale=scale, initial_state=initial_state,
                               output_final_state=output_final_state, cu_seqlens=cu_seqlens)
