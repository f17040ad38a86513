"""L2 normalisation of q and k over the key dimension (`use_qk_l2norm_in_kernel`), with FLA's epsilon.

x / sqrt(sum(x^2) + eps) rather than F.normalize's x / max(|x|, eps), so results match FLA's kernels closely.
"""
from __future__ import annotations

import torch

EPS = 1e-6


def l2norm(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Normalise the last dimension of x to unit L2 norm."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + eps)
