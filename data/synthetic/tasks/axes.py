"""Drawing one setting of a task's axes from its `TRAIN_AXES` spec.

A spec maps axis name -> how to draw it:
    (lo, hi) with two ints     an integer drawn uniformly from lo..hi inclusive
    (lo, hi) with a float      a float drawn uniformly from [lo, hi]
    [a, b, ...]                one of the listed values, uniformly
    anything else              used as is
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any


def sample_axes(spec: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """Draw one value per axis of `spec` with `rng` (in the spec's key order, so draws are reproducible)."""
    out: dict[str, Any] = {}
    for name, rule in spec.items():
        if isinstance(rule, tuple):
            if len(rule) != 2:
                raise ValueError(f"axis {name!r}: range {rule!r} must be (lo, hi)")
            lo, hi = rule
            if isinstance(lo, bool) or isinstance(hi, bool):
                raise TypeError(f"axis {name!r}: range {rule!r} holds bools; use a list [False, True] for choices")
            if isinstance(lo, int) and isinstance(hi, int):
                out[name] = rng.randint(lo, hi)
            else:
                out[name] = rng.uniform(float(lo), float(hi))
        elif isinstance(rule, list):
            if not rule:
                raise ValueError(f"axis {name!r}: empty list of choices")
            out[name] = rng.choice(rule)
        else:
            out[name] = rule
    return out
