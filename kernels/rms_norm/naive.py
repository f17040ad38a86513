"""RMSNorm and gated RMSNorm in eager PyTorch: the tests' reference (run in float64) and the definition.

    rms_norm(x, w)              = x / sqrt(mean_d x_d^2 + eps) * w                 (over the last dim)
    gated_rms_norm(x, g, w, act) = rms_norm(x, w) * act(g),   act = silu (GDN) or sigmoid (KDA)

Float32 arithmetic for lower-precision inputs, the result in the input's dtype; the gated form rounds the normed
value to that dtype before the gate, as a norm followed by a separate gate multiply does.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ACTS = ("silu", "sigmoid")


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    ct = _compute_dtype(x)
    xc = x.to(ct)
    xc = xc * torch.rsqrt(xc.pow(2).mean(-1, keepdim=True) + eps)
    return (xc * weight.to(ct)).to(x.dtype)


def activation(gate: torch.Tensor, act: str) -> torch.Tensor:
    g = gate.to(_compute_dtype(gate))
    return F.silu(g) if act == "silu" else torch.sigmoid(g)


def gated_rms_norm_reference(x: torch.Tensor, gate: torch.Tensor, weight: torch.Tensor, eps: float,
                             act: str) -> torch.Tensor:
    normed = rms_norm_reference(x, weight, eps)
    return (normed.to(_compute_dtype(x)) * activation(gate, act)).to(x.dtype)
