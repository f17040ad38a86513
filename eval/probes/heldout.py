"""Is an axis setting one the training mixture can draw? Probes call a setting held out exactly when it is not.

The training stream draws each task's axes from its `TRAIN_AXES` spec (data/synthetic/tasks/axes.py); an axis the
spec does not name keeps the generator's default. A setting is inside training when every axis value it implies
could be drawn that way, and held out when at least one could not (a longer context, more turns, more hops, more
keys).
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import ModuleType
from typing import Any


def _drawable(value: Any, rule: Any) -> bool:
    """Could `sample_axes` draw `value` from `rule`?"""
    if isinstance(rule, tuple) and len(rule) == 2:
        lo, hi = rule
        if isinstance(lo, int) and isinstance(hi, int):
            return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        return isinstance(value, (int, float)) and not isinstance(value, bool) and float(lo) <= value <= float(hi)
    if isinstance(rule, list):
        return value in rule
    return value == rule


def effective_axes(task: ModuleType, axes: Mapping[str, Any]) -> dict[str, Any]:
    """`axes` completed with the generator's defaults for every keyword it did not set."""
    params = inspect.signature(task.make).parameters
    unknown = sorted(set(axes) - set(params) - {"rng"})
    if unknown:
        valid = ", ".join(p for p in params if p != "rng")
        raise ValueError(f"axes {unknown} are not arguments of {task.__name__}.make; valid: {valid}")
    full = {name: p.default for name, p in params.items() if name != "rng"}
    full.update(axes)
    return full


def outside_training(task: ModuleType, axes: Mapping[str, Any]) -> list[str]:
    """The axes of this setting the training mixture never draws (empty: the setting is a training-length one)."""
    spec = task.TRAIN_AXES
    outside = []
    for name, value in effective_axes(task, axes).items():
        rule = spec[name] if name in spec else inspect.signature(task.make).parameters[name].default
        if not _drawable(value, rule):
            outside.append(name)
    return outside
