"""Carry-over probe: later turns need results earlier turns wrote; scored with those turns kept and stripped.

Both renderings come from the same draws (paired by seed). Kept, the last turn is one lookup of the previous reply;
stripped, it is every lookup again. MiniMax saw agents suffer when earlier reasoning was dropped; the kept/stripped
gap, and how it grows with turns, is that effect on a small model.
"""
from __future__ import annotations

from typing import Any

from eval.probes.base import Plot, Probe

GRID: list[dict[str, Any]] = [
    {"num_turns": turns, "num_distractors": 8, "strip": strip}
    for strip in (False, True)
    for turns in (1, 2, 4, 6, 8, 12)
]

PROBE = Probe(
    name="carryover",
    task="carryover",
    grid=GRID,
    plots=[Plot("num_turns", "strip")],
    slice_by=("num_turns", "strip"),
    pair_axis="strip",
    headlines={"reasoning kept": {"strip": False}, "reasoning stripped": {"strip": True}},
)
