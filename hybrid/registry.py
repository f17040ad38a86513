"""Mixers are built by name: adding a variant is one file plus one `@register_*` line; the stack never branches on
names.

The decode contract every mixer honours:
    mixer = build_linear(cfg, layer_idx) | build_attention(cfg, layer_idx)      # cfg: ModelConfig
    cache = mixer.new_cache()                 # an empty cache object of the mixer's own type
    y, cache = mixer(x, cache=cache)          # x: (B, T, d_model) -> y: (B, T, d_model); prefill or decode
    y, None  = mixer(x)                       # training: no cache
    y, None  = mixer(x, cu_seqlens=cu)        # packed documents (B == 1): nothing crosses a boundary
A linear mixer's cache holds its recurrent state (fp32, (B, H, K, V)) and short-conv state; an attention mixer's
holds its KV cache (and its length, which gives RoPE positions). Feeding tokens one at a time through the cache
must give the same outputs as one full forward.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

LINEAR_MIXERS: dict[str, type[nn.Module]] = {}
ATTENTION_MIXERS: dict[str, type[nn.Module]] = {}


def register_linear(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        LINEAR_MIXERS[name] = cls
        return cls

    return deco


def register_attention(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        ATTENTION_MIXERS[name] = cls
        return cls

    return deco


def _load_all() -> None:
    # Importing the packages runs their @register_* lines.
    from hybrid import attention, linear  # noqa: F401


def build_linear(cfg, layer_idx: int) -> nn.Module:
    _load_all()
    name = cfg.linear.variant
    if name not in LINEAR_MIXERS:
        raise ValueError(f"model.linear.variant={name!r} is unknown; valid: {', '.join(sorted(LINEAR_MIXERS))}")
    if cfg.linear.plain_conv_size and not getattr(LINEAR_MIXERS[name], "supports_plain_conv", False):
        takes = sorted(n for n, c in LINEAR_MIXERS.items() if getattr(c, "supports_plain_conv", False))
        raise ValueError(f"model.linear.plain_conv_size={cfg.linear.plain_conv_size} is not built for "
                         f"variant={name!r} (its short convs are model.linear.conv_size); valid: 0, or variant one of "
                         f"{', '.join(takes)}")
    return LINEAR_MIXERS[name](cfg, layer_idx)


def build_attention(cfg, layer_idx: int) -> nn.Module:
    _load_all()
    name = cfg.attention.type
    if name not in ATTENTION_MIXERS:
        raise ValueError(f"model.attention.type={name!r} is unknown; valid: {', '.join(sorted(ATTENTION_MIXERS))}")
    if cfg.attention.conv_size and not getattr(ATTENTION_MIXERS[name], "supports_conv", False):
        takes = sorted(n for n, c in ATTENTION_MIXERS.items() if getattr(c, "supports_conv", False))
        raise ValueError(f"model.attention.conv_size={cfg.attention.conv_size} is not built for type={name!r}; "
                         f"valid: 0, or type one of {', '.join(takes)}")
    return ATTENTION_MIXERS[name](cfg, layer_idx)
