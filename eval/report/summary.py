"""The MiniMax-gap summary: the regular-prompt loss next to every probe's accuracy, and both as ratios to a baseline.

MiniMax's hybrid "worked fine with regular prompts, but had poor accuracy in reasoning and multi-turn tasks"; the
summary makes that sentence a pair of numbers. With a full-attention baseline's results, each row gets a ratio where
1.0 means "as good as the baseline" and lower means worse, for the loss too (baseline loss / this loss), so a run that
is fine on regular prompts and poor on multi-turn reads as "regular 0.99, multiturn held-out 0.40".
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

FLAG_BELOW = 0.8
"""A probe row whose ratio to the baseline falls below this is named in the verdict line."""


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a probes.json, given the file or the run directory that holds it."""
    p = Path(path)
    if p.is_dir():
        p = p / "probes.json"
    if not p.is_file():
        raise ValueError(f"eval.baseline={str(path)!r} is not a probes.json or a run directory holding one")
    return json.loads(p.read_text())


def _rows_of(results: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """(name, kind, value) rows: kind 'loss' (lower is better) or 'accuracy' (higher is better).

    On a text run the regular-prompt loss is the held-out text's, with its perplexity under it; few-shot probe rows
    say so in their names ("mqar (3-shot) held-out"), so they never pair with a zero-shot baseline's rows."""
    regular = results.get("regular", {})
    rows = [("regular-prompt LM loss", "loss", regular.get("loss", math.nan))]
    if "text_perplexity" in regular:
        rows.append(("regular-prompt perplexity", "loss", regular["text_perplexity"]))
    mark = shots_mark(results)
    for name, report in results.get("probes", {}).items():
        sl = report["slices"]
        for part in ("train", "heldout"):
            if sl[part]["n"]:
                rows.append((f"{name}{mark} {'train-length' if part == 'train' else 'held-out'}", "accuracy",
                             sl[part]["accuracy"]))
        for head, acc in report.get("headlines", {}).items():
            if acc["n"]:
                rows.append((f"{name}{mark}: {head}", "accuracy", acc["accuracy"]))
    return rows


def shots_mark(results: dict[str, Any]) -> str:
    """" (k-shot)" for a few-shot suite, "" otherwise."""
    shots = results.get("config", {}).get("shots") or 0
    return f" ({shots}-shot)" if shots else ""


def regular_source(results: dict[str, Any]) -> str:
    """What the regular-prompt loss was measured on: 'held-out text' or 'synthetic filler/dialogues'."""
    return "held-out text" if "text_perplexity" in results.get("regular", {}) else "synthetic filler/dialogues"


def _missing(x: float | None) -> bool:
    """No number: None (NaN after a JSON round trip) or NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def _ratio(kind: str, value: float | None, base: float | None) -> float | None:
    if _missing(value) or _missing(base):
        return None
    if kind == "loss":
        return base / value if value > 0 else None
    return value / base if base > 0 else None


def gap_rows(results: dict[str, Any], baseline: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The summary rows: {"metric", "kind", "value", "baseline", "ratio"} (baseline/ratio None without one)."""
    base = {name: value for name, _, value in _rows_of(baseline)} if baseline else {}
    # Losses in different tokens (held-out text vs the synthetic kinds, or other tokenizers) do not compare.
    losses_compare = baseline is not None and regular_source(baseline) == regular_source(results)
    out = []
    for name, kind, value in _rows_of(results):
        b = base.get(name) if kind != "loss" or losses_compare else None
        out.append({"metric": name, "kind": kind, "value": value, "baseline": b, "ratio": _ratio(kind, value, b)})
    return out


def verdict(rows: list[dict[str, Any]]) -> str:
    """One line: how the run compares with the baseline on regular prompts and where it falls behind."""
    if not any(r["ratio"] is not None for r in rows):
        return "no baseline given (eval.baseline=PATH to a full-attention run's probes.json adds ratios)"
    regular = rows[0]["ratio"]
    weak = [f"{r['metric']} {r['ratio']:.2f}" for r in rows[1:] if r["ratio"] is not None and r["ratio"] < FLAG_BELOW]
    head = f"regular prompts at {regular:.2f}x the baseline" if regular is not None else "regular prompts: n/a"
    return f"{head}; below {FLAG_BELOW}x on: {', '.join(weak)}" if weak else f"{head}; no probe below {FLAG_BELOW}x"


def _num(x: float | None, kind: str) -> str:
    if _missing(x):
        return "-"
    return f"{x:.3f}" if kind == "loss" else f"{x:.1%}"


def format_summary(rows: list[dict[str, Any]], title: str = "MiniMax-gap summary") -> str:
    """The summary as a fixed-width text table with the verdict line under it."""
    width = max(len(r["metric"]) for r in rows)
    lines = [title, f"{'metric':<{width}}  {'value':>8}  {'baseline':>8}  {'ratio':>6}"]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"{r['metric']:<{width}}  {_num(r['value'], r['kind']):>8}  "
                     f"{_num(r['baseline'], r['kind']):>8}  {ratio:>6}")
    lines.append(verdict(rows))
    return "\n".join(lines)


def markdown_table(rows_by_run: dict[str, list[dict[str, Any]]]) -> str:
    """Runs side by side (one column each, value and ratio): the table experiments/minimax_gap_validation/ reports."""
    runs = list(rows_by_run)
    metrics = [r["metric"] for r in next(iter(rows_by_run.values()))]
    lines = ["| metric | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for metric in metrics:
        cells = []
        for run in runs:
            rows = [r for r in rows_by_run[run] if r["metric"] == metric]
            if not rows:
                cells.append("-")
                continue
            r = rows[0]
            cell = _num(r["value"], r["kind"])
            if r["ratio"] is not None:
                cell += f" ({r['ratio']:.2f})"
            cells.append(cell)
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
