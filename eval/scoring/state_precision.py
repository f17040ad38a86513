"""Holding the linear layers' recurrent state in low precision, from outside the model.

The linear mixers keep their state in a LinearCache (hybrid/linear/cache.py) in fp32. To measure how fragile that
state is, the decoder rounds every LinearCache.state to bf16 (or fp16) and back after each forward call, prefill
segment or decode step: the numbers the next step reads are exactly those a bf16 buffer would have held, while the
kernels, the conv states and the attention KV caches stay untouched. Prefill is then fed in segments
(EvalConfig.segment tokens) so the state is also rounded where a kernel would hand it from chunk to chunk.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

from hybrid.linear.cache import LinearCache

STORAGE: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""eval.state_dtype -> the dtype the state is rounded through (None: left as the model keeps it)."""


def storage_dtype(name: str) -> torch.dtype | None:
    """The rounding dtype for eval.state_dtype `name`; an unknown name raises ValueError listing the valid ones."""
    if name not in STORAGE:
        raise ValueError(f"eval.state_dtype={name!r} is unknown; valid: {', '.join(STORAGE)}")
    return STORAGE[name]


def round_states(caches: Iterable[object], dtype: torch.dtype | None) -> int:
    """Round each LinearCache's state through `dtype` in place; returns how many states were rounded."""
    if dtype is None:
        return 0
    n = 0
    for cache in caches:
        if isinstance(cache, LinearCache) and cache.state is not None:
            cache.state = cache.state.to(dtype).to(cache.state.dtype)
            n += 1
    return n
