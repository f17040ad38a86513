"""The calibration targets against training steps, per cell of a study, from each cell's metrics.csv.

The probe callback (eval.every) logs every probe headline as probe/<probe>/<headline_key>; this reads the four
calibration targets at training lengths back out, adds the end-of-run suite's numbers (probes.json, more examples),
and names the first logged step from which every target holds. Markdown on stdout.

    python -m experiments.calibration.curves runs/calibration [--plot runs/calibration/curves.png]

--plot also draws the curves: one panel per target (and reverse), accuracy against steps, one line per cell, the
target dashed.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

TARGETS: dict[str, tuple[str, str, float]] = {
    "MQAR": ("probe/mqar/train", "mqar:train", 0.90),
    "NIAH single": ("probe/niah/single_needle_train_lengths", "niah:single needle, train lengths", 0.95),
    "copy": ("probe/copy/copy_train_lengths", "copy:copy, train lengths", 0.90),
    "multi-turn": ("probe/multiturn/multi_turn_train_lengths", "multiturn:multi-turn, train lengths", 0.90),
}
"""Row name -> (metrics.csv column, probes.json 'probe:slice or headline', target accuracy)."""
EXTRA: dict[str, tuple[str, str]] = {"reverse": ("probe/copy/reverse_train_lengths", "copy:reverse, train lengths")}
"""Shown next to the targets, not required of them (reversing is not a published ceiling of attention)."""


def read_curve(metrics_csv: Path) -> dict[int, dict[str, float]]:
    """step -> {column: value} for the rows that hold any target column."""
    columns = [c for c, _, _ in TARGETS.values()] + [c for c, _ in EXTRA.values()]
    out: dict[int, dict[str, float]] = {}
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            values = {c: float(row[c]) for c in columns if row.get(c) not in (None, "")}
            if values and row.get("step") not in (None, ""):
                out.setdefault(int(float(row["step"])), {}).update(values)
    return out


def final_value(probes: dict, where: str) -> float:
    """'probe:slice-or-headline' from a probes.json; NaN when missing."""
    name, _, key = where.partition(":")
    report = probes.get("probes", {}).get(name)
    if report is None:
        return math.nan
    hit = report["slices"].get(key) or report.get("headlines", {}).get(key)
    return float(hit["accuracy"]) if hit and hit.get("n") else math.nan


def first_step_all_met(curve: dict[int, dict[str, float]]) -> int | None:
    """The first logged step from which every target holds at every later logged step (None: never)."""
    ok = [all(v.get(col, -1.0) >= target for col, _, target in TARGETS.values()) for _, v in sorted(curve.items())]
    steps = sorted(curve)
    for i in range(len(steps)):
        if all(ok[i:]):
            return steps[i]
    return None


def pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.0f}%"


def report(study_dir: Path) -> str:
    cells = sorted(p for p in study_dir.iterdir() if (p / "metrics.csv").is_file())
    if not cells:
        raise ValueError(f"{study_dir} holds no cell with a metrics.csv (trainer.logger=csv and eval.every > 0?)")
    names = list(TARGETS) + list(EXTRA)
    lines = ["Targets at training lengths: " + ", ".join(f"{n} >= {t:.0%}" for n, (_, _, t) in TARGETS.items()), ""]
    for cell in cells:
        curve = read_curve(cell / "metrics.csv")
        cols = [c for c, _, _ in TARGETS.values()] + [c for c, _ in EXTRA.values()]
        lines += [f"### {cell.name}", "", "| step | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for step, values in sorted(curve.items()):
            lines.append(f"| {step} | " + " | ".join(pct(values.get(c, math.nan)) for c in cols) + " |")
        probes_json = cell / "probes.json"
        if probes_json.is_file():
            probes = json.loads(probes_json.read_text())
            wheres = [w for _, w, _ in TARGETS.values()] + [w for _, w in EXTRA.values()]
            n = probes.get("config", {}).get("examples", "?")
            lines.append(f"| end ({n}/setting) | " + " | ".join(pct(final_value(probes, w)) for w in wheres) + " |")
        met = first_step_all_met(curve)
        lines += ["", f"every target met from step {met} on" if met is not None else "targets not all met", ""]
    return "\n".join(lines)


def plot(study_dir: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted(p for p in study_dir.iterdir() if (p / "metrics.csv").is_file())
    panels = [(n, c, t) for n, (c, _, t) in TARGETS.items()] + [(n, c, None) for n, (c, _) in EXTRA.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.0), sharey=True)
    for ax, (name, col, target) in zip(axes, panels):
        for cell in cells:
            points = sorted((s, v[col]) for s, v in read_curve(cell / "metrics.csv").items() if col in v)
            if points:
                ax.plot([s for s, _ in points], [100 * v for _, v in points], marker="o", ms=3, label=cell.name)
        if target is not None:
            ax.axhline(100 * target, color="gray", ls="--", lw=1)
        ax.set_title(name if target is not None else f"{name} (no target)")
        ax.set_xlabel("step")
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy at training lengths (%)")
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study_dir", type=Path)
    ap.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also draw the curves into this file")
    args = ap.parse_args(argv)
    try:
        print(report(args.study_dir))
        if args.plot:
            plot(args.study_dir, args.plot)
            print(f"plot: {args.plot}")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
