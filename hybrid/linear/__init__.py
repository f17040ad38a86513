"""The linear-attention mixers of the `L` layers, one file per published variant, each registered by name.

Importing this package runs every `@register_linear` line, so `build_linear(cfg, i)` can find them all.
"""

from hybrid.linear import deltanet, gated_deltanet, kda, lightning, linear_attn  # noqa: F401
from hybrid.linear.cache import LinearCache

__all__ = ["LinearCache"]
