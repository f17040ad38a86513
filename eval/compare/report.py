"""Write a study's comparison into its directory: report.md, a self-contained report.html (plots inlined as base64)
and plots/*.png, from the cells' probes.json and cell.json."""
from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eval.compare.collect import StudyResults, load_study_dir
from eval.compare.plots import bars, by_axis, probe_curves
from eval.compare.table import Row, compare, markdown, ratios_table, values_table, verdicts
from run.commit import short_commit


@dataclass
class Report:
    study: StudyResults
    rows: list[Row]
    verdicts: dict[str, str]
    plots: list[Path]
    md: Path
    html: Path
    provenance: dict[str, Any]
    study_dir: Path


def _stamp(s: str | None) -> float | None:
    try:
        return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").timestamp() if s else None
    except ValueError:
        return None


def _spans(status: dict[str, Any]) -> list[tuple[float, float]]:
    """A cell's attempts as (start, end) epoch seconds; records older than "spans" give their last attempt."""
    pairs = status.get("spans") or [[status.get("started"), status.get("finished")]]
    out = [(_stamp(a), _stamp(b)) for a, b in pairs]
    return [(a, b) for a, b in out if a is not None and b is not None and b >= a]


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """Length of the union of intervals: the time during which at least one cell ran (sittings hours apart add
    only their own length)."""
    total, reach = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def provenance(study: StudyResults) -> dict[str, Any]:
    """Device, versions, commits, the study's wall time (seconds during which any cell ran) and cell-hours."""
    metas = [c.results.get("meta", {}) for c in study.cells if c.results]
    spans = [span for c in study.cells for span in _spans(c.status)]
    return {
        "devices": sorted({m.get("device", "?") for m in metas}) or ["-"],
        "torch": sorted({m.get("torch", "?") for m in metas}) or ["-"],
        "commit": short_commit(), "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cell_commits": sorted({c.status["commit"] for c in study.cells if c.status.get("commit")}),
        "wall_s": busy_seconds(spans) if spans else None,
        "cell_s": sum(c.status.get("wall_s_total", c.status.get("wall_s", 0.0)) or 0.0 for c in study.cells),
        "launcher": study.manifest.get("launcher", {}).get("kind", "?"),
    }


def _cells_table(study: StudyResults) -> list[list[str]]:
    out = [["cell", "state", "steps", "wall", "error"]]
    for c in study.cells:
        s = c.status
        steps = str(c.results.get("meta", {}).get("step", "")) if c.results else ""
        wall = f"{s['wall_s_total']:.0f}s" if s.get("wall_s_total") else ""
        attempts = f" ({s['attempts']} attempts)" if s.get("attempts", 1) > 1 else ""
        out.append([c.name, s.get("state", "pending") + attempts, steps, wall, s.get("error") or ""])
    return out


def _header(study: StudyResults, prov: dict[str, Any]) -> list[str]:
    wall = f"{prov['wall_s'] / 60:.1f} min" if prov["wall_s"] else "-"
    done = sum(c.status.get("state") == "done" for c in study.cells)
    cells_at = f" (cells trained at {', '.join(prov['cell_commits'])})" if prov.get("cell_commits") else ""
    return [
        f"{len(study.cells)} cells ({len(study.groups)} designs x seeds), {done} finished; "
        f"launcher {prov['launcher']}; device {', '.join(prov['devices'])}; torch {', '.join(prov['torch'])}; "
        f"commit {prov['commit']}{cells_at}; wall time {wall} (cells {prov['cell_s'] / 60:.1f} min in total); "
        f"written {prov['written']}.",
        f"Baseline: **{study.baseline}**. Values are means over seeds ± the 95% t-interval half-width "
        "(accuracy in %, ± in points). Ratios are to the baseline, 1.00 = as good, below = worse (for the loss, "
        "baseline loss / design loss), with a 95% interval; ▼ / ▲ mark an interval wholly below / above parity.",
    ]


def write_markdown(rep: Report, path: Path) -> None:
    s = rep.study
    lines = [f"# Study {s.name}", ""]
    if s.description:
        lines += [s.description.strip(), ""]
    lines += [*_header(s, rep.provenance), "", "## Verdict", ""]
    lines += [f"- **{g}**: {v}" for g, v in rep.verdicts.items()] or ["- (only the baseline ran)"]
    lines += ["", "## Mean ± 95% CI over seeds", "", markdown(values_table(s, rep.rows)), "",
              "## Ratio to the baseline [95% interval]", "", markdown(ratios_table(s, rep.rows)), "",
              "## Cells", "", markdown(_cells_table(s)), "", "## Plots", ""]
    lines += [f"![{p.stem}]({p.relative_to(path.parent).as_posix()})" for p in rep.plots]
    path.write_text("\n".join(lines) + "\n")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1150px;color:#222;
line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4;position:sticky;top:0}
tr:nth-child(even) td{background:#fafafa}
.worse{color:#b00020;font-weight:600}.better{color:#0a7d28;font-weight:600}.failed{color:#b00020}
td.err{text-align:left;white-space:normal;max-width:520px}
li.gap{margin:.2em 0}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
"""


def _html_table(table: list[list[str]], cls_of=None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = []
    for row in table[1:]:
        tds = []
        for j, c in enumerate(row):
            cls = cls_of(j, c) if cls_of else ""
            tds.append(f'<td class="{cls}">{html.escape(c)}</td>' if cls else f"<td>{html.escape(c)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_html(rep: Report, path: Path) -> None:
    s = rep.study

    def ratio_cls(j: int, c: str) -> str:
        return "worse" if c.endswith("▼") else "better" if c.endswith("▲") else ""

    def cell_cls(j: int, c: str) -> str:
        return "err" if j == 4 else "failed" if c.startswith("failed") else ""

    def bold(text: str) -> str:
        parts = html.escape(text).split("**")
        return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))

    imgs = []
    for p in rep.plots:
        data = base64.b64encode(p.read_bytes()).decode()
        imgs.append(f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}">'
                    f"<figcaption class=meta>{html.escape(p.relative_to(path.parent).as_posix())}</figcaption>"
                    "</figure>")
    verdict = "".join(f'<li class=gap><b>{html.escape(g)}</b>: {html.escape(v)}</li>'
                      for g, v in rep.verdicts.items()) or "<li>(only the baseline ran)</li>"
    body = [f"<h1>Study {html.escape(s.name)}</h1>"]
    if s.description:
        body.append(f"<p>{html.escape(s.description.strip())}</p>")
    body += [f"<p class=meta>{bold(line)}</p>" for line in _header(s, rep.provenance)]
    body += ["<h2>Verdict</h2>", f"<ul>{verdict}</ul>",
             "<h2>Mean ± 95% CI over seeds</h2>", _html_table(values_table(s, rep.rows)),
             "<h2>Ratio to the baseline [95% interval]</h2>", _html_table(ratios_table(s, rep.rows), ratio_cls),
             "<h2>Cells</h2>", _html_table(_cells_table(s), cell_cls), "<h2>Plots</h2>", *imgs]
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>Study {html.escape(s.name)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>")
    path.write_text(page)


def write_report(study_dir: str | Path, out_dir: str | Path | None = None) -> Report:
    """Compare a study's cells and write report.md, report.html, report.json and plots/ into its directory (or
    out_dir, e.g. docs/studies/<study>/ to commit them)."""
    study_dir = Path(study_dir)
    study = load_study_dir(study_dir)
    rows = compare(study)
    dest = Path(out_dir) if out_dir else study_dir
    dest.mkdir(parents=True, exist_ok=True)
    plots_dir = dest / "plots"
    plots: list[Path] = []
    if rows:
        plots.append(bars(study, rows, plots_dir))
        plots += by_axis(study, rows, plots_dir)
        plots += probe_curves(study, plots_dir)
    rep = Report(study, rows, verdicts(study, rows), plots, dest / "report.md", dest / "report.html",
                 provenance(study), study_dir)
    write_markdown(rep, rep.md)
    write_html(rep, rep.html)
    (dest / "report.json").write_text(json.dumps({
        "study": study.name, "baseline": study.baseline, "provenance": rep.provenance, "verdicts": rep.verdicts,
        "cells": {c.name: c.status for c in study.cells},
        "rows": [{"metric": r.metric, "kind": r.kind,
                  "designs": {g: None if e is None else {"mean": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n,
                                                          "values": list(e.values)} for g, e in r.estimates.items()},
                  "ratios": {g: None if q is None else {"value": q.value, "lo": q.lo, "hi": q.hi,
                                                         "verdict": q.verdict} for g, q in r.ratios.items()}}
                 for r in rows]}, indent=1))
    return rep
