"""Public entry points of the delta-rule family, FLA-compatible: check arguments, pick a backend, run.

    chunk_*            chunked form, for training and prefill (any length)
    fused_recurrent_*  token-by-token form, for decoding a few tokens from a cached state
The three ops differ only in the gate: delta_rule has none, gated_delta_rule a log decay per head (B, T, H), kda a
log decay per key channel (B, T, H, K). All return (o (B, T, H, V) in the input dtype, final state (N, H, K, V) in
float32 -- float64 for float64 inputs -- or None).
"""
from __future__ import annotations

import torch

from kernels.backend import resolve_backend
from kernels.delta_rule.chunk import chunk_gated_delta_rule_torch
from kernels.delta_rule.fused_recurrent import fused_recurrent_gated_delta_rule_torch
from kernels.utils.launch import LaunchConfig
from kernels.utils.triton_support import check_triton_device
from kernels.utils.validate import GATE_CHANNEL, GATE_HEAD, GATE_NONE, check_inputs


def _chunk_triton(**kwargs):
    from kernels.delta_rule.chunk_triton import chunk_gated_delta_rule_triton  # lazy: importing Triton is opt-in

    return chunk_gated_delta_rule_triton(**kwargs)


def _recurrent_triton(**kwargs):
    from kernels.delta_rule.fused_recurrent_triton import fused_recurrent_gated_delta_rule_triton

    return fused_recurrent_gated_delta_rule_triton(**kwargs)


_CHUNK = {"torch": chunk_gated_delta_rule_torch, "triton": _chunk_triton}
_RECURRENT = {"torch": fused_recurrent_gated_delta_rule_torch, "triton": _recurrent_triton}

Out = tuple[torch.Tensor, "torch.Tensor | None"]


def _chunk(op, gate, q, k, v, g, beta, scale, initial_state, output_final_state, cu_seqlens,
           use_qk_l2norm_in_kernel, chunk_size, launch) -> Out:
    check_inputs(op, q, k, v, g=g, gate=gate, beta=beta, needs_beta=True, scale=scale, initial_state=initial_state,
                 cu_seqlens=cu_seqlens, chunk_size=chunk_size)
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    backend = resolve_backend(q.device)
    launch_kw = {}
    if backend == "triton":
        check_triton_device(op, q)
        launch_kw = {} if launch is None else {"launch": launch}
    return _CHUNK[backend](q=q, k=k, v=v, g=g, beta=beta, scale=scale, initial_state=initial_state,
                           output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                           use_qk_l2norm_in_kernel=use_qk_l2norm_in_kernel, chunk_size=chunk_size, **launch_kw)


def _recurrent(op, gate, q, k, v, g, beta, scale, initial_state, output_final_state, cu_seqlens,
               use_qk_l2norm_in_kernel) -> Out:
    check_inputs(op, q, k, v, g=g, gate=gate, beta=beta, needs_beta=True, scale=scale, initial_state=initial_state,
                 cu_seqlens=cu_seqlens)
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    backend = resolve_backend(q.device)
    if backend == "triton":
        check_triton_device(op, q)
    return _RECURRENT[backend](q=q, k=k, v=v, g=g, beta=beta, scale=scale, initial_state=initial_state,
                               output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                               use_qk_l2norm_in_kernel=use_qk_l2norm_in_kernel)


def chunk_delta_rule(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    beta: torch.Tensor,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,  # (N + 1,) int, [0, ..., T], with B == 1
    use_qk_l2norm_in_kernel: bool = False,
    chunk_size: int = 64,
    launch: LaunchConfig | None = None,  # the Triton path's launch choices; None: the defaults
) -> Out:
    """DeltaNet: S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T, o_t = S_t^T (scale q_t)."""
    return _chunk("chunk_delta_rule", GATE_NONE, q, k, v, None, beta, scale, initial_state, output_final_state,
                  cu_seqlens, use_qk_l2norm_in_kernel, chunk_size, launch)


def chunk_gated_delta_rule(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H) log decay per head, <= 0
    beta: torch.Tensor,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,  # (N + 1,) int, [0, ..., T], with B == 1
    use_qk_l2norm_in_kernel: bool = False,
    chunk_size: int = 64,
    launch: LaunchConfig | None = None,  # the Triton path's launch choices; None: the defaults
) -> Out:
    """Gated DeltaNet: the delta rule with the state first decayed by exp(g_t) per head."""
    return _chunk("chunk_gated_delta_rule", GATE_HEAD, q, k, v, g, beta, scale, initial_state, output_final_state,
                  cu_seqlens, use_qk_l2norm_in_kernel, chunk_size, launch)


def chunk_kda(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H, K) log decay per key channel, <= 0
    beta: torch.Tensor,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,  # (N + 1,) int, [0, ..., T], with B == 1
    use_qk_l2norm_in_kernel: bool = False,
    chunk_size: int = 64,
    launch: LaunchConfig | None = None,  # the Triton path's launch choices; None: the defaults
) -> Out:
    """Kimi Delta Attention: the delta rule with each state row k decayed by exp(g_t[k])."""
    return _chunk("chunk_kda", GATE_CHANNEL, q, k, v, g, beta, scale, initial_state, output_final_state,
                  cu_seqlens, use_qk_l2norm_in_kernel, chunk_size, launch)


def fused_recurrent_delta_rule(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    beta: torch.Tensor,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm_in_kernel: bool = False,
) -> Out:
    """Token-by-token chunk_delta_rule, for decoding."""
    return _recurrent("fused_recurrent_delta_rule", GATE_NONE, q, k, v, None, beta, scale, initial_state,
                      output_final_state, cu_seqlens, use_qk_l2norm_in_kernel)


def fused_recurrent_gated_delta_rule(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H)
    beta: torch.Tensor,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm_in_kernel: bool = False,
) -> Out:
    """Token-by-token chunk_gated_delta_rule, for decoding."""
    return _recurrent("fused_recurrent_gated_delta_rule", GATE_HEAD, q, k, v, g, beta, scale, initial_state,
                      output_final_state, cu_seqlens, use_qk_l2norm_in_kernel)


def fused_recurrent_kda(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H, K)
    beta: torch.Tensor,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (N, H, K, V)
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm_in_kernel: bool = False,
) -> Out:
    """Token-by-token chunk_kda, for decoding."""
    return _recurrent("fused_recurrent_kda", GATE_CHANNEL, q, k, v, g, beta, scale, initial_state,
                      output_final_state, cu_seqlens, use_qk_l2norm_in_kernel)
