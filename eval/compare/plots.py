"""The comparison's PNGs: bars with 95% error bars per metric (one panel each), each probe's accuracy curve with a
band per design, and each study axis with two or more values against every probe's held-out accuracy."""
from __future__ import annotations

import math
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
from matplotlib.ticker import PercentFormatter

from eval.compare.collect import StudyResults
from eval.compare.stats import estimate
from eval.compare.table import Row
from eval.scoring.slices import sort_key


def _save(fig: Any, path: Path, title_inches: float = 0.0) -> Path:
    """title_inches: room kept above the panels for a suptitle (tight_layout ignores it and would overlap it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    top = 1.0 - title_inches / fig.get_figheight()
    with warnings.catch_warnings():  # tight_layout may not fit long rotated labels; bbox_inches below still does
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _ylabel(row: Row) -> str:
    if row.kind != "loss":
        return "accuracy (%)"
    return "perplexity" if "perplexity" in row.metric else "loss (nats/token)"


def _colors(groups: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {g: cmap(i % 10) for i, g in enumerate(groups)}


def bars(study: StudyResults, rows: list[Row], out: Path) -> Path:
    """One panel per metric: a bar per design (mean over seeds), the 95% interval as an error bar, seeds as dots."""
    groups, colors = study.groups, _colors(study.groups)
    cols = min(4, len(rows))
    nrows = math.ceil(len(rows) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.9 * nrows), squeeze=False)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        scale = 1.0 if row.kind == "loss" else 100.0
        for i, g in enumerate(groups):
            e = row.estimates.get(g)
            if e is None:
                # at the panel's foot whatever its y range (a loss panel's range is far from 0)
                ax.text(i, 0.02, "n/a", ha="center", va="bottom", fontsize=7, color="grey",
                        transform=ax.get_xaxis_transform())
                continue
            err = None if e.half is None else [[e.half * scale], [e.half * scale]]
            if row.kind == "loss":  # a loss is read by its differences: a point, on an axis fitted to the data
                ax.errorbar(i, e.mean, yerr=err, fmt="s" if g == study.baseline else "o", color=colors[g],
                            capsize=4, ms=7, mec="black" if g == study.baseline else colors[g])
            else:
                ax.bar(i, e.mean * scale, color=colors[g], alpha=0.55 if g != study.baseline else 0.9,
                       edgecolor="black" if g == study.baseline else "none", yerr=err, capsize=3)
            ax.scatter([i] * len(e.values), [v * scale for v in e.values], s=8, color="black", zorder=3)
        ax.set_xticks(range(len(groups)), groups, rotation=35, ha="right", fontsize=7)
        ax.set_title(row.metric, fontsize=8)
        ax.set_ylabel(_ylabel(row), fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        if row.kind != "loss":
            ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{study.name}: mean over seeds with 95% CI (black edge / square: the baseline, {study.baseline}; "
                 "dots: single seeds)",
                 fontsize=10)
    return _save(fig, out / "headlines.png", title_inches=0.4)


def _band(ax: Any, xs: list[Any], per_x: dict[Any, list[float]], color: Any, label: str, pos: dict) -> None:
    pts = [(pos[x], estimate(per_x[x])) for x in xs if per_x.get(x)]
    pts = [(p, e) for p, e in pts if e is not None]
    if not pts:
        return
    px = [p for p, _ in pts]
    ax.plot(px, [e.mean for _, e in pts], "-o", color=color, label=label, ms=3)
    banded = [(p, e) for p, e in pts if e.lo is not None]
    if banded:
        ax.fill_between([p for p, _ in banded], [max(0.0, e.lo) for _, e in banded],
                        [min(1.0, e.hi) for _, e in banded], color=color, alpha=0.2, lw=0)


def _axis_positions(xs: list[Any]) -> tuple[dict[Any, float], bool]:
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    return ({x: (x if numeric else i) for i, x in enumerate(xs)}, numeric)


def _thin_ticks(ax: Any, most: int = 10) -> None:
    """Keep at most `most` x tick labels (every k-th), so long categorical axes stay legible."""
    labels = ax.get_xticklabels()
    step = -(-len(labels) // most)
    if step > 1:
        for i, label in enumerate(labels):
            label.set_visible(i % step == 0)


def probe_curves(study: StudyResults, out: Path) -> list[Path]:
    """Per probe curve (accuracy against length / turns / hops ...): a panel per series value, a line per design
    with its 95% band over seeds."""
    # (probe, curve index) -> meta, and -> series -> group -> x -> [accuracy per seed]
    meta: dict[tuple[str, int], dict[str, Any]] = {}
    data: dict[tuple[str, int], dict[Any, dict[str, dict[Any, list[float]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for cell in study.cells:
        if cell.results is None:
            continue
        for probe, report in cell.results["probes"].items():
            for k, curve in enumerate(report["curves"]):
                meta.setdefault((probe, k), curve)
                for series, pts in curve["lines"].items():
                    for x, acc, *_ in pts:
                        data[(probe, k)][series][cell.group][x].append(acc)
    colors, paths = _colors(study.groups), []
    for (probe, k), curve in meta.items():
        panels = data[(probe, k)]
        keys = sorted(panels, key=sort_key)
        fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 3.3), sharey=True, squeeze=False)
        for ax, key in zip(axes[0], keys):
            xs = sorted({x for g in panels[key].values() for x in g}, key=sort_key)
            pos, numeric = _axis_positions(xs)
            for g in study.groups:
                if g in panels[key]:
                    _band(ax, xs, panels[key][g], colors[g], g, pos)
            if numeric and min(xs) > 0 and max(xs) / min(xs) >= 8:
                ax.set_xscale("log", base=2)
                ax.set_xticks(xs, [f"{x:g}" for x in xs])
            elif numeric:
                ax.set_xticks(xs, [f"{x:g}" for x in xs])
            else:
                long = max(len(str(x)) for x in xs) > 4
                ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=30 if long else 0,
                              ha="right" if long else "center")
            _thin_ticks(ax)
            ax.set_ylim(-0.03, 1.03)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_xlabel(curve["x"])
            ax.grid(alpha=0.3)
            ax.set_title(probe + (f", {curve['series']}={key}" if curve["series"] else ""), fontsize=9)
        axes[0][0].set_ylabel("accuracy (mean, 95% band)")
        axes[0][-1].legend(fontsize=7, title="design", title_fontsize=7)
        name = f"{probe}_{curve['x']}" + (f"_by_{curve['series']}" if curve["series"] else "")
        paths.append(_save(fig, out / "curves" / f"{name}.png"))
    return paths


def by_axis(study: StudyResults, rows: list[Row], out: Path) -> list[Path]:
    """For each study axis (other than the recipe) with two or more values: every accuracy metric against it, a line
    per metric with its 95% band over the cells at that value (other axes pooled)."""
    paths = []
    accuracy = [r.metric for r in rows if r.kind == "accuracy" and ":" not in r.metric]
    for axis, values in study.axes.items():
        if axis == "recipe" or len(values) < 2:
            continue
        labels = [str(v) for v in values]
        pos = {v: i for i, v in enumerate(labels)}
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        colors = plt.get_cmap("tab20")
        for i, metric in enumerate(accuracy):
            per_x: dict[str, list[float]] = defaultdict(list)
            for cell in study.cells:
                if metric in cell.metrics:
                    per_x[str(cell.axes.get(axis))].append(cell.metrics[metric][1])
            _band(ax, labels, per_x, colors(i % 20), metric, pos)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(axis)
        ax.set_ylabel("accuracy (mean, 95% band)")
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.set_title(f"{study.name}: accuracy by {axis}", fontsize=10)
        paths.append(_save(fig, out / f"by_{axis.rsplit('.', 1)[-1]}.png"))
    return paths
