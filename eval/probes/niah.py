"""Needle-in-a-haystack probe: a grid of needle depth x context length, single needle and multi-key.

Context lengths past the training range show whether retrieval extrapolates; depth shows where a recurrent state
forgets (early needles are the hardest for it) and where attention does not care.
"""
from __future__ import annotations

from typing import Any

from eval.probes.base import Plot, Probe

GRID: list[dict[str, Any]] = [
    {"context_len": length, "depth": depth, "num_needles": needles}
    for needles in (1, 4)
    for length in (64, 256, 512, 1024)
    for depth in (0.0, 0.25, 0.5, 0.75, 1.0)
]

PROBE = Probe(
    name="niah",
    task="niah",
    grid=GRID,
    plots=[Plot("depth", "context_len"), Plot("context_len", "num_needles")],
    slice_by=("context_len", "depth", "num_needles"),
    # The "train lengths" rows are the calibration targets (attention's known ceiling, docs/validity.md); the plain
    # rows also average the held-out lengths, where full attention is not expected to stay at its ceiling.
    headlines={"single needle": {"num_needles": 1}, "multi-key": {"num_needles": 4},
               "single needle, train lengths": {"num_needles": 1, "heldout": False}},
)
