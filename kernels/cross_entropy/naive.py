"""The reference: full logits, then PyTorch's cross-entropy (mean over the rows whose label is not ignore_index)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def naive_linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                               ignore_index: int = -100) -> torch.Tensor:
    """hidden (N, D), weight (V, D), labels (N,) -> mean cross-entropy of hidden @ weight.T, computed in float32 or
    wider."""
    logits = hidden @ weight.T  # (N, V)
    return F.cross_entropy(logits if logits.dtype == torch.float64 else logits.float(), labels,
                           ignore_index=ignore_index)
