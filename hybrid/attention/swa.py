"""`swa`: sliding-window causal attention: each query sees itself and the window - 1 tokens before it.

The same projections, RoPE and GQA as `mha`; only the mask and the cache differ. The cache keeps the last
window - 1 keys/values, so decode memory is bounded however long the sequence gets.
"""

from __future__ import annotations

from hybrid.attention.mha import MultiHeadAttention
from hybrid.config import ModelConfig
from hybrid.registry import register_attention


@register_attention("swa")
class SlidingWindowAttention(MultiHeadAttention):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__(cfg, layer_idx)
        if cfg.attention.window < 1:
            raise ValueError(f"attention.window={cfg.attention.window}; valid: a positive number of tokens")
        self.window = cfg.attention.window

    def extra_repr(self) -> str:
        return f"window={self.window}"
