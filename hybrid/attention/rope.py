"""Rotary position embedding (RoPE) on the first `rotary_fraction` of each head's dims, at explicit positions.

Positions are passed in rather than read off the sequence because they come from three places: 0..T-1 in training,
cache.length + t when decoding, and a restart at 0 at every document start in a packed batch.
Within the R rotary dims, dim i is paired with dim i + R/2 (the GPT-NeoX / Llama "rotate half" layout); the other
head_dim - R dims pass through unchanged (Qwen3-Next's gated attention rotates only a quarter of them).
"""

from __future__ import annotations

import torch
from torch import nn


def rotary_dim(head_dim: int, rotary_fraction: float) -> int:
    """How many leading dims of a head get rotated: head_dim * fraction, rounded down to an even number."""
    if not 0.0 <= rotary_fraction <= 1.0:
        raise ValueError(f"attention.rotary_fraction={rotary_fraction}; valid: a number in [0, 1]")
    return int(head_dim * rotary_fraction) // 2 * 2


class RotaryEmbedding(nn.Module):
    """Rotates the first `rotary_dim` dims of each head by angle position * theta^(-2i/R). Holds no parameters."""

    def __init__(self, head_dim: int, rotary_fraction: float = 1.0, theta: float = 10000.0):
        super().__init__()
        if theta <= 0:
            raise ValueError(f"attention.rope_theta={theta}; valid: a positive number")
        self.head_dim = head_dim
        self.rotary_dim = rotary_dim(head_dim, rotary_fraction)
        self.theta = theta

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x: (B, T, H, D); positions: (T,) or (B, T) integer positions. Returns x rotated, same shape and dtype."""
        R = self.rotary_dim
        if R == 0:
            return x
        # Angles in fp32 (fp64 for fp64 inputs): bf16 angles lose the phase of far positions. inv_freq is
        # recomputed rather than kept as a buffer so that casting the module to bf16 cannot degrade it.
        cdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        exponent = torch.arange(0, R, 2, dtype=torch.float64, device=x.device) / R
        inv_freq = (self.theta**-exponent).to(cdtype)  # (R/2,)
        angles = positions.to(cdtype)[..., None] * inv_freq  # (..., T, R/2)
        cos = angles.cos().unsqueeze(-2)  # (..., T, 1, R/2): broadcast over heads
        sin = angles.sin().unsqueeze(-2)
        x1, x2 = x[..., : R // 2].to(cdtype), x[..., R // 2 : R].to(cdtype)
        rotated = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)
        return torch.cat([rotated, x[..., R:]], dim=-1)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, rotary_dim={self.rotary_dim}, theta={self.theta}"
