"""Copy probe: repeat or reverse a random string, at lengths up to and beyond training's 32 symbols.

The whole string must be held at once, which a fixed-size state cannot do past its capacity (Jelassi et al., 2024);
the answer is many tokens long and counts only when every one of them is right.
"""
from __future__ import annotations

from typing import Any

from eval.probes.base import Plot, Probe

GRID: list[dict[str, Any]] = [
    {"length": length, "mode": mode} for mode in ("copy", "reverse") for length in (8, 16, 32, 48, 64, 96)
]

PROBE = Probe(
    name="copy",
    task="copy",
    grid=GRID,
    plots=[Plot("length", "mode")],
    slice_by=("length", "mode"),
    headlines={"copy, train lengths": {"mode": "copy", "heldout": False},
               "reverse, train lengths": {"mode": "reverse", "heldout": False}},
)
