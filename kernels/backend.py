"""Which implementation (backend) runs the kernels: one process-wide choice, resolved per call from the device.

Backends: "torch" (chunked/recurrent PyTorch, any device) and "triton" (CUDA; CPU only under TRITON_INTERPRET=1).
"auto" picks triton for CUDA tensors when Triton is installed and torch otherwise. The public functions call
`resolve_backend` and look the answer up in their own table of implementations, so adding a backend is one table
entry per op.
"""
from __future__ import annotations

import torch

from kernels.utils.triton_support import triton_importable

BACKENDS = ("auto", "triton", "torch")
AVAILABLE = ("torch", "triton") if triton_importable() else ("torch",)
"""Backends that can run here: triton needs the triton package (its kernels are kernels/<op>/triton_*.py)."""

_selected = "auto"


def set_backend(name: str) -> None:
    """Select the backend for all later kernel calls: auto | triton | torch."""
    global _selected
    _check_backend(name)
    _selected = name


def get_backend() -> str:
    """The backend as selected (possibly "auto")."""
    return _selected


def resolve_backend(device: torch.device | str) -> str:
    """The concrete backend that runs for tensors on `device`."""
    if _selected != "auto":
        _check_backend(_selected)
        return _selected
    if torch.device(device).type == "cuda" and "triton" in AVAILABLE:
        return "triton"
    return "torch"


def _check_backend(name: object) -> None:
    if name not in BACKENDS:
        raise ValueError(f"kernel backend {name!r} is unknown; valid: {', '.join(BACKENDS)}")
    if name not in AVAILABLE and name != "auto":
        raise ValueError(f"kernel backend {name!r} is not available: the triton package is not installed; "
                         f"use 'auto' or 'torch'")
