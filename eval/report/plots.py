"""PNG plots of probe accuracy: one figure per probe curve (accuracy against length / turns / hops / depth).

`plot_run` draws one run, one line per slice value (e.g. one per sequence length); `plot_comparison` draws several
runs side by side, a panel per slice value with one line per run (how experiments/minimax_gap_validation/ compares
architectures). Held-out points (more than half of their answers from held-out settings) are drawn hollow.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window (CI, GPU boxes)
import matplotlib.pyplot as plt

from eval.report.summary import shots_mark
from eval.scoring.slices import sort_key

Point = Sequence[Any]  # [x, accuracy, n, held-out fraction]


def _numeric(xs: Sequence[Any]) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)


def _draw(ax: Any, lines: Mapping[str, Sequence[Point]], legend_title: str | None) -> None:
    xs = sorted({p[0] for pts in lines.values() for p in pts}, key=sort_key)
    numeric = _numeric(xs)
    pos = {x: (x if numeric else i) for i, x in enumerate(xs)}
    for label, pts in lines.items():
        px = [pos[p[0]] for p in pts]
        py = [p[1] for p in pts]
        (line,) = ax.plot(px, py, "-", label=label)
        filled = [(x, y) for x, y, p in zip(px, py, pts) if p[3] <= 0.5]
        hollow = [(x, y) for x, y, p in zip(px, py, pts) if p[3] > 0.5]
        if filled:
            ax.scatter(*zip(*filled), color=line.get_color(), zorder=3)
        if hollow:
            ax.scatter(*zip(*hollow), facecolors="none", edgecolors=line.get_color(), zorder=3)
    if numeric and xs and min(xs) > 0 and max(xs) / min(xs) >= 8:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    elif not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("exact-match accuracy")
    ax.grid(alpha=0.3)
    if legend_title is not None:  # None: no legend (a single line, or a panel that is not the last)
        ax.legend(title=legend_title, fontsize=8, title_fontsize=8)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _name(probe: str, curve: Mapping[str, Any]) -> str:
    return f"{probe}_{curve['x']}" + (f"_by_{curve['series']}" if curve["series"] else "")


def plot_run(results: Mapping[str, Any], out_dir: str | Path, title: str = "") -> list[Path]:
    """One PNG per probe curve of one run, one line per slice value; returns the paths written."""
    paths = []
    mark = shots_mark(results)
    for probe, report in results["probes"].items():
        for curve in report["curves"]:
            if not curve["lines"]:
                continue
            fig, ax = plt.subplots(figsize=(5.5, 3.6))
            _draw(ax, curve["lines"], curve["series"])
            ax.set_xlabel(curve["x"] + " (hollow: held out)")
            ax.set_title(f"{title + ': ' if title else ''}{probe}{mark}", fontsize=10)
            paths.append(_save(fig, Path(out_dir) / f"{_name(probe, curve)}.png"))
    return paths


def plot_comparison(runs: Mapping[str, Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """One PNG per probe curve comparing runs: a panel per slice value, one line per run; runs: label -> results."""
    first = next(iter(runs.values()))
    paths = []
    for probe, report in first["probes"].items():
        for k, curve in enumerate(report["curves"]):
            panels: dict[str, dict[str, Sequence[Point]]] = defaultdict(dict)
            for label, res in runs.items():
                other = res["probes"].get(probe)
                if not other or k >= len(other["curves"]):
                    continue
                for series, pts in other["curves"][k]["lines"].items():
                    panels[series][label] = pts
            if not panels:
                continue
            keys = sorted(panels, key=sort_key)
            fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), sharey=True, squeeze=False)
            for ax, key in zip(axes[0], keys):
                _draw(ax, panels[key], "run" if key == keys[-1] else None)
                ax.set_xlabel(curve["x"] + " (hollow: held out)")
                ax.set_title(f"{probe}" + (f", {curve['series']}={key}" if curve["series"] else ""), fontsize=10)
            paths.append(_save(fig, Path(out_dir) / f"{_name(probe, curve)}.png"))
    return paths
