"""The comparison: every metric of the MiniMax-gap summary per design as mean ± 95% CI over seeds, its ratio to the
baseline design with an interval, and a verdict per design that names a deficit only where the interval excludes
parity (1.0). Ratios read as in eval/report/summary.py: 1.0 = as good as the baseline, below = worse, for the loss
too."""
from __future__ import annotations

import math
from dataclasses import dataclass

from eval.compare.collect import StudyResults
from eval.compare.stats import Estimate, Ratio, estimate, ratio

REGULAR = "regular-prompt LM loss"
BASELINE_FLOOR = 0.10
"""A baseline below this accuracy has not learned the probe: a ratio to it would measure noise, so none is given."""


@dataclass
class Row:
    metric: str
    kind: str
    """'loss' (lower is better) or 'accuracy'."""
    estimates: dict[str, Estimate | None]
    ratios: dict[str, Ratio | None]
    unlearned: bool = False
    """The baseline's mean accuracy is below BASELINE_FLOOR: no ratios on this row."""


def compare(study: StudyResults) -> list[Row]:
    """One row per metric (in the order of the first finished cell's summary), across every design."""
    order: dict[str, str] = {}
    for cell in study.cells:
        for metric, (kind, _) in cell.metrics.items():
            order.setdefault(metric, kind)
    rows = []
    for metric, kind in order.items():
        est = {g: estimate([c.metrics[metric][1] for c in study.of(g) if metric in c.metrics]) for g in study.groups}
        base = est.get(study.baseline)
        unlearned = kind == "accuracy" and base is not None and base.mean < BASELINE_FLOOR
        rat = {g: ratio(e, base, lower_is_better=kind == "loss") if g != study.baseline and not unlearned else None
               for g, e in est.items()}
        rows.append(Row(metric, kind, est, rat, unlearned))
    return rows


def fmt_estimate(e: Estimate | None, kind: str) -> str:
    """'81.0% ± 2.5' (points) / '3.012 ± 0.020'; a lone seed says so instead of an interval."""
    if e is None:
        return "-"
    one = " (1 seed)" if e.half is None else ""
    if kind == "loss":
        return f"{e.mean:.3f}" + (f" ± {e.half:.3f}" if e.half is not None else one)
    return f"{e.mean:.1%}" + (f" ± {100 * e.half:.1f}" if e.half is not None else one)


def fmt_ratio(r: Ratio | None) -> str:
    if r is None:
        return "-"
    if r.lo is None:
        return f"{r.value:.2f} (no interval)"
    hi = ">100" if r.hi > 100 else f"{r.hi:.2f}"
    return f"{r.value:.2f} [{r.lo:.2f}, {hi}]"


def verdicts(study: StudyResults, rows: list[Row]) -> dict[str, str]:
    """Design -> one sentence: the regular-prompt ratio, then the metrics whose interval lies below parity."""
    out = {}
    for g in study.groups:
        if g == study.baseline:
            continue
        regular = next((r.ratios.get(g) for r in rows if r.metric == REGULAR), None)
        n = min((e.n for r in rows if (e := r.estimates.get(g)) is not None), default=0)
        if regular is None or regular.lo is None:
            why = "it has no finished cell" if n == 0 else "fewer than two seeds give no interval"
            out[g] = f"no verdict: {why}"
            continue
        worse = [f"{r.metric} {fmt_ratio(r.ratios[g])}" for r in rows
                 if r.metric != REGULAR and r.ratios.get(g) is not None and r.ratios[g].verdict == "worse"]
        unlearned = sum(r.unlearned for r in rows)
        zero = sum(r.metric != REGULAR and not r.unlearned and r.ratios.get(g) is None for r in rows)
        probes = sum(r.metric != REGULAR for r in rows)
        notes = [f"{zero} probe metrics have no ratio: a mean of 0"] if zero else []
        if unlearned:
            notes.insert(0, f"the baseline is below {BASELINE_FLOOR:.0%} on {unlearned} of {probes} probe metrics, "
                            "where no gap can show")
        note = f" ({'; '.join(notes)})" if notes else ""
        reg = {"parity": "at parity on regular prompts", "better": "better on regular prompts",
               "worse": "worse on regular prompts"}[regular.verdict] + f" ({fmt_ratio(regular)})"
        if not worse:
            out[g] = f"{reg}; no probe deficit whose interval excludes parity{note}"
        elif regular.verdict != "worse":
            out[g] = f"MiniMax gap: {reg}, yet behind the baseline on {len(worse)}: " + "; ".join(worse)
        else:
            out[g] = f"{reg}, and behind on {len(worse)}: " + "; ".join(worse)
    return out


def values_table(study: StudyResults, rows: list[Row]) -> list[list[str]]:
    """Header + one row per metric: mean ± 95% CI half-width per design (accuracy in %, ± in points)."""
    head = ["metric"] + [g + (" (baseline)" if g == study.baseline else "") for g in study.groups]
    return [head] + [[r.metric] + [fmt_estimate(r.estimates[g], r.kind) for g in study.groups] for r in rows]


def ratios_table(study: StudyResults, rows: list[Row]) -> list[list[str]]:
    """Header + one row per metric: ratio to the baseline [95% interval] per non-baseline design; a trailing ▼ / ▲
    marks an interval wholly below / above parity."""
    groups = [g for g in study.groups if g != study.baseline]
    mark = {"worse": " ▼", "better": " ▲"}
    out = [["metric"] + groups]
    for r in rows:
        cells = []
        base = r.estimates.get(study.baseline)
        for g in groups:
            q, e = r.ratios.get(g), r.estimates.get(g)
            if r.unlearned:
                cells.append(f"n/a (baseline < {BASELINE_FLOOR:.0%})")
                continue
            if q is None and e is not None and base is not None:  # both ran: a mean of 0 leaves no ratio
                cells.append("n/a (a mean is 0)")
                continue
            cells.append(fmt_ratio(q) + (mark.get(q.verdict, "") if q is not None else ""))
        out.append([r.metric] + cells)
    return out


def markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|---" * len(table[0]) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table[1:]]
    return "\n".join(lines)


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
