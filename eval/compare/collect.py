"""Read a study directory: its manifest (study.json, written by the launcher), every cell's status (cell.json) and
results (probes.json), grouped by design (a design is a cell without its seed)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.report.summary import gap_rows

MANIFEST = "study.json"


@dataclass
class CellResult:
    name: str
    group: str
    seed: int
    axes: dict[str, Any]
    status: dict[str, Any]
    results: dict[str, Any] | None
    """probes.json of a finished cell (None if it failed or has no probes)."""

    @property
    def metrics(self) -> dict[str, tuple[str, float | None]]:
        """metric -> (kind 'loss' | 'accuracy', value): the MiniMax-gap summary's rows."""
        if self.results is None:
            return {}
        return {r["metric"]: (r["kind"], r["value"]) for r in gap_rows(self.results)}


@dataclass
class StudyResults:
    name: str
    description: str
    axes: dict[str, list[Any]]
    baseline: str
    """The baseline design's group name."""
    cells: list[CellResult] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        """Design names in study order."""
        return list(dict.fromkeys(c.group for c in self.cells))

    def of(self, group: str) -> list[CellResult]:
        return [c for c in self.cells if c.group == group]


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_study_dir(study_dir: str | Path) -> StudyResults:
    """A launched study's directory -> StudyResults; ValueError naming what is missing."""
    study_dir = Path(study_dir)
    manifest = _json(study_dir / MANIFEST)
    if manifest is None:
        raise ValueError(f"{study_dir}: no {MANIFEST}; pass a study's directory, runs/<study> (written by "
                         "`python train.py study=...`)")
    out = StudyResults(name=manifest["name"], description=manifest.get("description", ""),
                       axes=manifest["axes"], baseline=manifest["baseline"], manifest=manifest)
    for c in manifest["cells"]:
        run_dir = study_dir / c["name"]
        status = _json(run_dir / "cell.json") or {"state": "pending"}
        results = _json(run_dir / "probes.json") if status.get("state") == "done" else None
        out.cells.append(CellResult(name=c["name"], group=c["group"], seed=c["seed"], axes=c["axes"],
                                    status=status, results=results))
    return out
