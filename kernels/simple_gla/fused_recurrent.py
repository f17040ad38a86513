"""Token-by-token decayed linear attention in PyTorch: the decoding path, state in float32 (float64 for float64)."""
from __future__ import annotations

import torch

from kernels.simple_gla.chunk import head_gate
from kernels.utils.runner_torch import run_core


def fused_recurrent_simple_gla_torch(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None,  # (B, T, H) log decay per head; None: no decay
    scale: float,
    initial_state: torch.Tensor | None,  # (N, H, K, V)
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated public arguments in, (o (B, T, H, V), final state (N, H, K, V) or None) out."""
    return run_core(recurrent_simple_gla_core, q, k, v, (head_gate(g, q),), scale, initial_state,
                    output_final_state, cu_seqlens, False)


def recurrent_simple_gla_core(
    q: torch.Tensor,  # (B, T, H, K), scaled
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor,  # (B, T, H, 1)
    h0: torch.Tensor,  # (B, H, K, V)
) -> tuple[torch.Tensor, torch.Tensor]:
    S, outputs = h0, []
    decay = g.exp().unsqueeze(-1)  # (B, T, H, 1, 1)
    for t in range(q.shape[1]):
        S = decay[:, t] * S + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outputs.append((q[:, t].unsqueeze(-2) @ S).squeeze(-2))
    return torch.stack(outputs, 1), S
