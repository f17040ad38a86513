"""Several bias-free projections of one input as one matmul.

`project_together(x, a, b, c)` returns what `a(x), b(x), c(x)` return, from one GEMM over the concatenated weights.
Under autocast each separate nn.Linear casts x to bf16 for itself and keeps its own copy for the backward (a KDA
layer kept seven, 14 KB per token at d_model 1024: 2026-12-06_1b58199_saved-activations_cpu.md); the joint one casts
and keeps x once, launches one kernel instead of several, and sums the input gradient inside one GEMM.
The modules keep their own parameters, so checkpoints and weight init are those of the separate layers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def project_together(x: torch.Tensor, *linears: nn.Linear) -> tuple[torch.Tensor, ...]:
    """(..., d_in) -> one contiguous (..., out_features) tensor per bias-free linear."""
    for m in linears:
        if m.bias is not None:
            raise ValueError(f"project_together: {m} has a bias; only bias-free projections are joined")
    if len(linears) == 1:
        return (linears[0](x),)
    y = F.linear(x, torch.cat([m.weight for m in linears]))
    # each output in its own storage: a view kept by a later op for its backward would keep all of y alive
    return tuple(part.contiguous() for part in y.split([m.out_features for m in linears], dim=-1))
