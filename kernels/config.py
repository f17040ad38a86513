"""Configuration of the kernels package: which implementation runs the linear-attention math."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class KernelConfig:
    """Kernel settings; apply with `kernels.set_backend(cfg.backend)`."""

    backend: str = "auto"
    """Implementation: auto | triton | torch; auto picks triton on CUDA when available, else torch."""
