"""Naive recurrent reference for the (gated) delta rule: the float64 oracle every fast path is tested against.

One token at a time, exactly as the papers write the recurrence (state S is [K, V] per head):
    S_t = diag(exp(g_t)) S_{t-1}                       # decay: scalar per head (GDN) or per key channel (KDA)
    S_t = S_t + beta_t * k_t (v_t - S_t^T k_t)^T       # delta-rule write (error-correcting)
    o_t = S_t^T (scale * q_t)
`g` is the log of the decay (<= 0). `g=None` is the plain delta rule (DeltaNet).
"""
from __future__ import annotations

import torch


def naive_recurrent_gated_delta_rule(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) scalar decay or (B, T, H, K) per-channel decay, log space
    beta: torch.Tensor,  # (B, T, H)
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    B, T, H, K = q.shape
    V = v.shape[-1]
    scale = K**-0.5 if scale is None else scale
    dtype = q.dtype
    q, k, v, beta = (x.double() for x in (q, k, v, beta))
    S = q.new_zeros(B, H, K, V) if initial_state is None else initial_state.double().clone()
    o = q.new_zeros(B, T, H, V)
    for t in range(T):
        if g is not None:
            decay = g[:, t].double().exp()  # (B, H) or (B, H, K)
            S = S * (decay[..., None, None] if decay.dim() == 2 else decay[..., None])
        k_t = k[:, t]  # (B, H, K)
        err = v[:, t] - torch.einsum("bhkv,bhk->bhv", S, k_t)
        S = S + torch.einsum("bhk,bhv->bhkv", k_t, err * beta[:, t, :, None])
        o[:, t] = torch.einsum("bhkv,bhk->bhv", S, q[:, t] * scale)
    return o.to(dtype), (S if output_final_state else None)
