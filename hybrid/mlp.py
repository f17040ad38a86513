"""SwiGLU feed-forward block (Shazeer 2020), as in Llama / Qwen / Kimi."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def default_mlp_hidden(d_model: int) -> int:
    """8/3 * d_model rounded up to a multiple of 64: keeps SwiGLU's parameter count equal to a 4x GELU MLP."""
    return -(-int(8 * d_model / 3) // 64) * 64


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)
        self.down._is_residual_out = True  # scaled at init (see lm.init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)
