"""Head counts and widths of a softmax mixer, resolved from the config's defaults and checked once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeadDims:
    n_heads: int
    """Query heads, H."""
    n_kv_heads: int
    """Key/value heads, H_kv (H_kv < H is grouped-query attention)."""
    head_dim: int
    """Dimension per head, D."""

    @classmethod
    def from_config(cls, cfg) -> HeadDims:
        """cfg: hybrid.config.ModelConfig; attention fields left None fall back to n_heads / head_dim."""
        a = cfg.attention
        n_heads = a.num_heads or cfg.n_heads
        n_kv_heads = a.num_kv_heads or n_heads
        head_dim = a.head_dim or cfg.head_dim
        if n_heads < 1 or head_dim < 1:
            raise ValueError(f"attention heads={n_heads}, head_dim={head_dim}; valid: positive integers")
        if n_kv_heads < 1 or n_heads % n_kv_heads:
            raise ValueError(f"attention.num_kv_heads={n_kv_heads}; valid: a divisor of num_heads={n_heads}")
        return cls(n_heads, n_kv_heads, head_dim)
