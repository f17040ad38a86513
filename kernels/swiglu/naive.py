"""SwiGLU's activation on a joint gate_up tensor (..., 2 hidden): h = silu(gate) * up, gate the first half. The
definition, through autograd, in the input's dtype (float64 in the tests)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def swiglu_reference(gate_up: torch.Tensor) -> torch.Tensor:
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate) * up
