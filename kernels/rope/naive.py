"""RoPE on the first R dims of each head, at explicit positions: the definition.

    a_i = pos * theta^(-2i/R),  y_i = x_i cos a_i - x_{i+R/2} sin a_i,  y_{i+R/2} = x_{i+R/2} cos a_i + x_i sin a_i

for i < R/2 (the GPT-NeoX / Llama "rotate half" pairing); dims R..D pass through. Angles and arithmetic in float32
(float64 for float64 inputs: bf16 angles lose the phase of far positions); y in x's dtype.
"""
from __future__ import annotations

import torch


def inverse_frequencies(rotary_dim: int, theta: float, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """(R/2,) theta^(-2i/R), computed in float64 and rounded once to `dtype`."""
    exponent = torch.arange(0, rotary_dim, 2, dtype=torch.float64, device=device) / rotary_dim
    return (theta**-exponent).to(dtype)


def rope_reference(x: torch.Tensor, positions: torch.Tensor, rotary_dim: int, theta: float) -> torch.Tensor:
    """x (B, T, H, D), positions (T,) or (B, T) integers -> x with its first rotary_dim dims rotated."""
    R = rotary_dim
    ct = torch.float64 if x.dtype == torch.float64 else torch.float32
    angles = positions.to(ct)[..., None] * inverse_frequencies(R, theta, ct, x.device)  # (..., T, R/2)
    cos = angles.cos().unsqueeze(-2)  # (..., T, 1, R/2): broadcast over heads
    sin = angles.sin().unsqueeze(-2)
    x1, x2 = x[..., : R // 2].to(ct), x[..., R // 2 : R].to(ct)
    rotated = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)
    return torch.cat([rotated, x[..., R:]], dim=-1)
