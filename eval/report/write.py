"""Writing a suite's results into a run directory: probes.json, PNG plots, and the MiniMax-gap summary text.

Files (state_dtype fp32): <run_dir>/probes.json and <run_dir>/plots/<probe>_<x>_by_<series>.png. With a
low-precision state the names carry it (probes-state_bf16.json, plots-state_bf16/) so both runs can sit side by side.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from eval.report.plots import plot_run
from eval.report.summary import format_summary, gap_rows, load_results, regular_source, shots_mark


def output_names(state_dtype: str) -> tuple[str, str]:
    """(json file name, plot folder name) for a suite run with this state dtype."""
    if state_dtype == "fp32":
        return "probes.json", "plots"
    return f"probes-state_{state_dtype}.json", f"plots-state_{state_dtype}"


def _clean(obj: Any) -> Any:
    """NaN -> None so probes.json is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_report(
    results: dict[str, Any], run_dir: str | Path, baseline: str | None = None, meta: dict[str, Any] | None = None,
    title: str = "",
) -> tuple[Path, list[Path], str]:
    """Add the summary (against `baseline`, a probes.json or run dir) and `meta`, write json + plots.

    Returns (json path, plot paths, the summary text to print)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    base = load_results(baseline) if baseline else None
    results["summary"] = gap_rows(results, base)
    results["baseline"] = str(baseline) if baseline else None
    results["meta"] = {"written": time.strftime("%Y-%m-%d %H:%M:%S"), **(meta or {})}
    json_name, plot_dir = output_names(results["config"]["state_dtype"])
    path = run_dir / json_name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(results), indent=1))
    tmp.replace(path)  # never a half-written probes.json for a reader (the callback, a baseline)
    plots = plot_run(results, run_dir / plot_dir, title=title)
    label = f" (state in {results['config']['state_dtype']})" if results["config"]["state_dtype"] != "fp32" else ""
    if results["config"].get("tokens") == "text":
        label += f" (regular prompts: {regular_source(results)}; probes in the run's tokenizer{shots_mark(results)})"
    summary = format_summary(results["summary"], f"MiniMax-gap summary{label}: {title or run_dir.name}")
    return path, plots, summary

