"""Rotary position embedding (RoPE) on the first `rotary_fraction` of each head's dims, at explicit positions.

Positions are passed in rather than read off the sequence because they come from three places: 0..T-1 in training,
cache.length + t when decoding, and a restart at 0 at every document start in a packed batch.
Within the R rotary dims, dim i is paired with dim i + R/2 (the GPT-NeoX / Llama "rotate half" layout); the other
head_dim - R dims pass through unchanged (Qwen3-Next's gated attention rotates only a quarter of them).
"""

from __future__ import annotations

import torch
from torch import nn

from kernels import resolve_backend
from kernels.rope import rope_reference


def rotary_dim(head_dim: int, rotary_fraction: float) -> int:
    """How many leading dims of a head get rotated: head_dim * fraction, rounded down to an even number."""
    if not 0.0 <= rotary_fraction <= 1.0:
        raise ValueError(f"attention.rotary_fraction={rotary_fraction}; valid: a number in [0, 1]")
    return int(head_dim * rotary_fraction) // 2 * 2


class RotaryEmbedding(nn.Module):
    """Rotates the first `rotary_dim` dims of each head by angle position * theta^(-2i/R). Holds no parameters.
    With `fused = True` (model.fused_rope) and the Triton kernel backend it runs as one kernel each way
    (kernels/rope/triton.py); otherwise the eager definition (kernels/rope/naive.py)."""

    def __init__(self, head_dim: int, rotary_fraction: float = 1.0, theta: float = 10000.0):
        super().__init__()
        if theta <= 0:
            raise ValueError(f"attention.rope_theta={theta}; valid: a positive number")
        self.head_dim = head_dim
        self.rotary_dim = rotary_dim(head_dim, rotary_fraction)
        self.theta = theta
        self.fused = False  # HybridLM sets it from model.fused_rope

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x: (B, T, H, D); positions: (T,) or (B, T) integer positions. Returns x rotated, same shape and dtype."""
        if self.rotary_dim == 0:
            return x
        if self.fused and x.dtype != torch.float64 and resolve_backend(x.device) == "triton":
            from kernels.rope.triton import rope_triton

            return rope_triton(x, positions, self.rotary_dim, self.theta)
        return rope_reference(x, positions, self.rotary_dim, self.theta)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, rotary_dim={self.rotary_dim}, theta={self.theta}"
