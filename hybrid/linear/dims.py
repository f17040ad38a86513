"""Head geometry of a linear mixer: heads H, key dim K and value dim V, resolved from the model config once.

cfg.linear.num_heads / head_dim fall back to the model-level n_heads / head_dim; V = K * expand_v must be an integer.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrid.config import ModelConfig


@dataclass(frozen=True)
class HeadDims:
    H: int
    """Heads."""
    K: int
    """Key (and query) dimension per head."""
    V: int
    """Value dimension per head."""


def head_dims(cfg: ModelConfig) -> HeadDims:
    H = cfg.linear.num_heads if cfg.linear.num_heads is not None else cfg.n_heads
    K = cfg.linear.head_dim if cfg.linear.head_dim is not None else cfg.head_dim
    V = int(K * cfg.linear.expand_v)
    if V != K * cfg.linear.expand_v or V < 1:
        raise ValueError(
            f"model.linear.expand_v={cfg.linear.expand_v} gives a non-integer value dim {K * cfg.linear.expand_v} "
            f"for head_dim={K}; valid: any expand_v making head_dim * expand_v a positive integer"
        )
    if H < 1 or K < 1:
        raise ValueError(f"linear mixer heads={H}, head_dim={K}; valid: both >= 1")
    return HeadDims(H, K, V)
