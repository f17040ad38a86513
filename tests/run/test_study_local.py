"""A three-cell study through the local launcher on the CPU (size=tiny, four steps): every cell trains and is probed,
the report is written, a relaunch touches no cell and only rewrites the report, and the W&B report run lands in the
study's group."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent / "studies" / "tiny3.yaml"


def _train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def test_local_study_runs_every_cell_then_a_relaunch_only_rewrites_the_report(tmp_path):
    proc = _train(f"study={STUDY}", f"out_dir={tmp_path}", "launcher.cpu_jobs=2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    study = tmp_path / "tiny3"
    names = ["full_attention-s0", "linear_3to1-s0", "lightning_7to1-s0"]
    for name in names:
        assert f"{name}: running (cpu)" in proc.stdout and f"{name}: done" in proc.stdout
        run = study / name
        assert json.loads((run / "cell.json").read_text())["state"] == "done"
        assert (run / "probes.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        assert json.loads((run / "progress.json").read_text())["step"] == 4
    assert "cells: 3 finished, 0 not" in proc.stdout
    md = (study / "report.md").read_text()
    assert md.startswith("# Study tiny3") and "Baseline: **full_attention**" in md
    assert "| regular-prompt LM loss |" in md and "| lightning_7to1-s0 | done | 4 |" in md
    assert "data:image/png;base64," in (study / "report.html").read_text()
    manifest = json.loads((study / "study.json").read_text())
    assert [c["name"] for c in manifest["cells"]] == names and manifest["baseline"] == "full_attention"

    cells_before = {str(p): p.stat().st_mtime_ns for n in names for p in (study / n).rglob("*") if p.is_file()}
    report_before = (study / "report.md").stat().st_mtime_ns
    again = _train(f"study={STUDY}", f"out_dir={tmp_path}")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("done (earlier)") == 3 and "running" not in again.stdout
    assert {str(p): p.stat().st_mtime_ns for n in names for p in (study / n).rglob("*") if p.is_file()} \
        == cells_before
    assert (study / "report.md").stat().st_mtime_ns > report_before

    # the comparison as a W&B run in the study's group (offline)
    proc = subprocess.run([sys.executable, "-m", "eval.compare", str(study), "--wandb"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((study / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    record = runs[0].read_bytes()  # the offline run's protobuf records: its name, group, tags, tables
    for text in (b"tiny3-report", b"study=tiny3", b"baseline=full_attention", b"compare/ratios"):
        assert text in record, text


def test_sigterm_to_the_launcher_stops_every_running_cell_saved_before_it_exits(tmp_path):
    """A scheduler or `timeout` signals the launcher alone: it passes the stop on to its cells, waits until each has
    saved at a step boundary, and exits 143; no cell is left running behind it."""
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "train.py", f"study={STUDY}", f"out_dir={tmp_path}", "launcher.cpu_jobs=2",
                             "trainer.max_steps=100000", "trainer.ckpt_every=100000"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    study = tmp_path / "tiny3"
    running = [study / "full_attention-s0", study / "linear_3to1-s0"]
    try:
        deadline = time.time() + 300
        while not all((r / "progress.json").is_file() and json.loads((r / "progress.json").read_text() or "{}")
                      .get("step", 0) >= 2 for r in running):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _cell_pids(running):  # never leave a 100,000-step cell behind a failed test
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert "the same command resumes the study" in out
    for r in running:
        status = json.loads((r / "cell.json").read_text())
        assert status["state"] == "preempted" and status["rc"] == 128 + signal.SIGTERM, status
        assert (r / "checkpoints" / "last.ckpt").is_file()
    assert _cell_pids(running) == []
    assert not (study / "lightning_7to1-s0" / "cell.json").exists()  # never started


def _cell_pids(run_dirs: list[Path]) -> list[int]:
    """The processes still alive among those named by the run directories' locks."""
    import os

    alive = []
    for r in run_dirs:
        try:
            pid = int((r / ".lock").read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            continue
        alive.append(pid)
    return alive
