"""Turning scored answers into a probe's report: overall, train vs held-out, per-label slices, headlines, curves.

Slice names are what the loggers see as probe/<name>/<slice>: "all", "train", "heldout", and "<label>=<value>" for
each label the probe slices by (binned values where the probe bins them).
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from eval.probes.base import Probe
from eval.scoring.score import Scored


def fmt(value: Any) -> str:
    """A label value as it appears in slice names: 0.25, 64, True, 4-7."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def sort_key(value: Any) -> tuple:
    """Numbers in numeric order, "lo-hi" bins by lo, anything else after them by name."""
    if isinstance(value, bool):
        return (1, int(value), "")
    if isinstance(value, (int, float)):
        return (0, float(value), "")
    m = re.match(r"^-?\d+(\.\d+)?", str(value))
    return (0, float(m.group(0)), str(value)) if m else (2, 0.0, str(value))


def _acc(rows: Sequence[Scored]) -> dict[str, Any]:
    n = len(rows)
    return {"accuracy": (sum(r.correct for r in rows) / n) if n else math.nan, "n": n}


def _where(rows: Iterable[Scored], match: dict[str, Any]) -> list[Scored]:
    return [r for r in rows if all(r.labels.get(k) == v for k, v in match.items())]


def summarize(probe: Probe, rows: Sequence[Scored]) -> dict[str, Any]:
    """The probe's report as plain JSON-able data (see the module docstring for the slice names)."""
    train = [r for r in rows if not r.labels.get("heldout")]
    held = [r for r in rows if r.labels.get("heldout")]
    slices: dict[str, dict[str, Any]] = {"all": _acc(rows), "train": _acc(train), "heldout": _acc(held)}
    for label in probe.slice_by:
        groups: dict[Any, list[Scored]] = defaultdict(list)
        for r in rows:
            if label in r.labels:
                groups[probe.bucket(label, r.labels[label])].append(r)
        for value in sorted(groups, key=sort_key):
            slices[f"{label}={fmt(value)}"] = _acc(groups[value])

    curves = []
    for plot in probe.plots:
        lines: dict[str, dict[Any, list[Scored]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            if plot.x not in r.labels:
                continue
            series = fmt(probe.bucket(plot.series, r.labels.get(plot.series))) if plot.series else "all"
            lines[series][probe.bucket(plot.x, r.labels[plot.x])].append(r)
        points = {}
        for series in sorted(lines, key=sort_key):
            pts = []
            for x in sorted(lines[series], key=sort_key):
                group = lines[series][x]
                held_frac = sum(bool(r.labels.get("heldout")) for r in group) / len(group)
                pts.append([x, _acc(group)["accuracy"], len(group), held_frac])
            points[series] = pts
        curves.append({"x": plot.x, "series": plot.series, "lines": points})

    return {
        "accuracy": slices["all"]["accuracy"],
        "n": len(rows),
        "slices": slices,
        "headlines": {name: _acc(_where(rows, dict(match))) for name, match in probe.headlines.items()},
        "curves": curves,
    }
