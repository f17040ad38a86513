"""Multi-turn probe: facts set and overwritten over many dialogue turns, asked at the end; a single-turn control.

Sliced by turn age (turns since the asked key was last set), overwrites of that key and number of turns. The control
renders the very same draws as one user turn (paired by seed), so "poor at many turns" and "poor at many facts"
come apart: MiniMax's hybrid was fine on single prompts and weak in multi-turn use.
"""
from __future__ import annotations

from typing import Any

from eval.probes.base import Plot, Probe, log2_bucket

GRID: list[dict[str, Any]] = [
    {"num_turns": turns, "num_keys": keys, "num_questions": 2, "single_turn": single}
    for turns, keys in [(8, 4), (16, 4), (32, 4), (64, 4), (16, 8)]
    for single in (False, True)
]

PROBE = Probe(
    name="multiturn",
    task="multiturn",
    grid=GRID,
    plots=[Plot("num_turns", "single_turn"), Plot("turn_age", "single_turn"), Plot("overwrites", "single_turn")],
    slice_by=("num_turns", "num_keys", "single_turn", "turn_age", "overwrites"),
    buckets={"turn_age": log2_bucket},
    pair_axis="single_turn",
    headlines={"multi-turn": {"single_turn": False}, "single-turn control": {"single_turn": True},
               "multi-turn, train lengths": {"single_turn": False, "heldout": False}},
)
