"""The Zoology MQAR grid driver on the CPU: a one-cell grid with its own segments trains, records its row (device,
commit) and plots; a rerun skips the finished cell; bad --segments exit 2 naming the valid form."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRID = ROOT / "experiments" / "zoology_mqar" / "grid.py"


def _grid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GRID), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_a_small_grid_with_its_own_segments_trains_records_and_plots(tmp_path):
    out = tmp_path / "r.jsonl"
    args = ["--out", str(out), "--segments", "16x2,32x4", "--vocab", "64", "--batch", "8", "--steps", "3",
            "--mixers", "linear+conv", "--d-models", "32", "--lrs", "1e-3", "--jobs", "1"]
    proc = _grid(*args)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["mixer"] == "linear+conv" and list(row["acc"]) == ["16x2", "32x4"] and row["steps"] == 3
    assert row["device"] == "cpu" and row["commit"]
    again = _grid(*args)
    assert "1 cells done, 0 to run" in again.stdout and len(out.read_text().splitlines()) == 1
    fig = tmp_path / "fig.png"
    assert _grid("--plot", str(out), "--fig", str(fig)).returncode == 0 and fig.stat().st_size > 0


def test_bad_segments_exit_2_naming_the_valid_form(tmp_path):
    proc = _grid("--out", str(tmp_path / "r.jsonl"), "--segments", "64by4")
    assert proc.returncode == 2 and "valid: SEQ_LENxPAIRS" in proc.stderr
    proc = _grid("--out", str(tmp_path / "r.jsonl"), "--segments", "16x8")
    assert proc.returncode == 2 and "pairs <= seq_len / 4" in proc.stderr
