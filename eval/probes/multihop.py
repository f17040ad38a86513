"""Multi-hop probe: variable chains of 1 to 8 hops with distractor chains interleaved; training sees 1 to 4 hops.

Each hop is a lookup whose key is the previous lookup's result, the kind of composition MiniMax saw degrade in
reasoning tasks; hops beyond training test whether the model learned to follow a chain or memorised chain lengths.
"""
from __future__ import annotations

from typing import Any

from eval.probes.base import Plot, Probe

GRID: list[dict[str, Any]] = [
    {"num_hops": hops, "num_distractors": distractors} for distractors in (1, 4) for hops in range(1, 9)
]

PROBE = Probe(
    name="multihop",
    task="multihop",
    grid=GRID,
    plots=[Plot("num_hops", "num_distractors")],
    slice_by=("num_hops", "num_distractors"),
)
