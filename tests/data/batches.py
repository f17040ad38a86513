"""Comparing batches as the data hands them out: tensors by value, the host copy of cu_seqlens (ints) by ==."""
from __future__ import annotations

import torch


def same_batch(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)
