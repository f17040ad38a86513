"""The linear mixers' decode cache, and the one place that picks the chunked or the recurrent kernel.

A linear mixer's whole memory of the past is a fixed-size recurrent state (B, H, K, V), kept in fp32 whatever the
activations' dtype (fp64 only when the module itself runs in fp64, as the exactness tests do), plus the last
conv_size-1 inputs of each short convolution. `run_kernel` is the decode contract of hybrid/registry.py made
concrete: the chunked kernel for training and prefill (T > 1, or nothing cached yet), the fused recurrent kernel for
a one-token decode step, and the cache updated in place after either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class LinearCache:
    state: torch.Tensor | None = None
    """Recurrent state (B, H, K, V) in fp32; None before the first token."""
    conv: dict[str, torch.Tensor] = field(default_factory=dict)
    """Short-conv states by projection name ('q', 'k', 'v'): the last conv_size-1 inputs, (B, conv_size-1, D)."""
    seen: int = 0
    """Tokens consumed so far."""


def check_call(x: torch.Tensor, cache: LinearCache | None, cu_seqlens: Any) -> None:
    """The argument rules every linear mixer's forward shares (cheap: no device sync)."""
    if x.dim() != 3:
        raise ValueError(f"linear mixer input has shape {tuple(x.shape)}; valid: (B, T, d_model)")
    if cu_seqlens is not None:
        if x.shape[0] != 1:
            raise ValueError(f"cu_seqlens needs a packed batch of size 1, got B={x.shape[0]}; valid: B == 1")
        if cache is not None:
            raise ValueError("cu_seqlens was given with a cache; valid: packed training (no cache) or cached decode")


def run_kernel(
    chunk_fn: Callable[..., tuple[torch.Tensor, torch.Tensor | None]],
    recurrent_fn: Callable[..., tuple[torch.Tensor, torch.Tensor | None]],
    *args: torch.Tensor,
    cache: LinearCache | None,
    cu_seqlens: Any = None,
    chunk_size: int = 64,
    launch: Any = None,
    **kwargs: Any,
) -> torch.Tensor:
    """Call `chunk_fn` or `recurrent_fn` (FLA signatures, args[0] is q (B, T, H, K)); return o and update `cache`.
    chunk_size and launch (a kernels.LaunchConfig, None: the defaults) go to the chunked call only."""
    T = args[0].shape[1]
    if cache is not None and cache.state is not None and T == 1:
        fn = recurrent_fn
    else:
        fn, kwargs = chunk_fn, {**kwargs, "chunk_size": chunk_size, "launch": launch}
    o, state = fn(
        *args,
        initial_state=None if cache is None else cache.state,
        output_final_state=cache is not None,
        cu_seqlens=cu_seqlens,
        **kwargs,
    )
    if cache is not None:
        cache.state = state if state.dtype == torch.float64 else state.float()
        cache.seen += T
    return o
