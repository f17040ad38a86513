"""State-tracking probe: a stack under push/pop, parity, and composition in S3, for longer programs than training.

Retrieval cannot answer these; the model has to carry a state forward. Chance is 1/2 for parity and 1/6 for S3.
"""
from __future__ import annotations

from typing import Any

from eval.probes.base import Plot, Probe, log2_bucket

GRID: list[dict[str, Any]] = [
    {"kind": kind, "num_ops": ops} for kind in ("stack", "parity", "s3") for ops in (8, 16, 32, 64, 128)
]

PROBE = Probe(
    name="state",
    task="state",
    grid=GRID,
    plots=[Plot("num_ops", "kind"), Plot("top_age", "num_ops")],
    slice_by=("kind", "num_ops", "top_age", "final_depth"),
    buckets={"top_age": log2_bucket, "final_depth": log2_bucket},
    headlines={"stack": {"kind": "stack"}, "parity": {"kind": "parity"}, "s3": {"kind": "s3"}},
)
