"""Causal depthwise short convolution over time, then SiLU, restarting at document starts: the definition.

    z[b, t, d] = sum_{s=0}^{W-1} w[d, W-1-s] * x[b, t-s, d] * [pos[t] >= s],   y = z * sigmoid(z)

pos[t] is the token's offset inside its document (t itself for unpacked rows), so no tap reaches the previous
document or before the row. Arithmetic in float32 (float64 for float64 inputs); y in x's dtype.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def document_positions(cu_seqlens: Any, T: int, device: torch.device | str) -> torch.Tensor:
    """(T,) int32 offset of each token inside its document; cu_seqlens: document starts 0, ..., T."""
    cu = torch.as_tensor(cu_seqlens, device=device).long()
    t = torch.arange(T, device=device)
    return (t - cu[torch.searchsorted(cu[1:], t, right=True)]).to(torch.int32)


def causal_conv(x: torch.Tensor, weight: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """z (before the SiLU) in the dtype x and weight share: x (B, T, D), weight (D, W), pos (T,) offsets inside
    documents. One shifted, masked multiply-add per tap (the eager packed form ShortConv also runs)."""
    T, W = x.shape[1], weight.shape[1]
    z = x * weight[:, W - 1]
    for s in range(1, W):
        shifted = F.pad(x, (0, 0, s, 0))[:, :T]  # x_{t-s}, zeros before the row
        z = z + shifted * (pos >= s).to(x.dtype)[None, :, None] * weight[:, W - 1 - s]
    return z


def short_conv_reference(x: torch.Tensor, weight: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
    """x (B, T, D), weight (D, W), positions (T,) or None -> SiLU(causal conv) (B, T, D)."""
    ct = torch.float64 if x.dtype == torch.float64 else torch.float32
    pos = torch.arange(x.shape[1], device=x.device) if positions is None else positions.to(x.device).long()
    return F.silu(causal_conv(x.to(ct), weight.to(ct), pos)).to(x.dtype)
