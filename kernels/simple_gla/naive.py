"""Naive recurrent reference for (decayed) linear attention: the float64 oracle for `linear` and `lightning`.

    S_t = exp(g_t) S_{t-1} + k_t v_t^T      # g: log decay per head and step (None: no decay)
    o_t = S_t^T (scale * q_t)
Lightning attention (MiniMax) is the case g_t = -slope_h, constant in time.
"""
from __future__ import annotations

import torch


def naive_recurrent_simple_gla(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None = None,  # (B, T, H), log space
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    B, T, H, K = q.shape
    V = v.shape[-1]
    scale = K**-0.5 if scale is None else scale
    dtype = q.dtype
    q, k, v = (x.double() for x in (q, k, v))
    S = q.new_zeros(B, H, K, V) if initial_state is None else initial_state.double().clone()
    o = q.new_zeros(B, T, H, V)
    for t in range(T):
        if g is not None:
            S = S * g[:, t].double().exp()[..., None, None]
        S = S + torch.einsum("bhk,bhv->bhkv", k[:, t], v[:, t])
        o[:, t] = torch.einsum("bhkv,bhk->bhv", S, q[:, t] * scale)
    return o.to(dtype), (S if output_final_state else None)
