"""One pre-norm block: x + mixer(norm(x)), then x + SwiGLU(norm(x)). The mixer is linear or attention by layout."""
from __future__ import annotations

import torch
from torch import nn

from hybrid.config import ModelConfig
from hybrid.layout import ATTENTION, LINEAR
from hybrid.mlp import SwiGLU, default_mlp_hidden
from hybrid.norm import RMSNorm
from hybrid.registry import build_attention, build_linear


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int, kind: str):
        super().__init__()
        if kind not in (LINEAR, ATTENTION):
            raise ValueError(f"block kind {kind!r}; valid: {LINEAR!r}, {ATTENTION!r}")
        self.kind = kind
        self.mixer_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mixer = build_linear(cfg, layer_idx) if kind == LINEAR else build_attention(cfg, layer_idx)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg.d_model, cfg.mlp_hidden or default_mlp_hidden(cfg.d_model))

    def forward(self, x: torch.Tensor, cache=None, cu_seqlens: torch.Tensor | None = None):
        h, cache = self.mixer(self.mixer_norm(x), cache=cache, cu_seqlens=cu_seqlens)  # (B, T, D)
        x = x + h
        x = x + self.mlp(self.mlp_norm(x))
        return x, cache
