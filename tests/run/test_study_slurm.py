"""Studies on a real one-node Slurm cluster (.ci/slurm_up.sh), CPU, size=tiny.

Two studies share the cluster at once: `slurm3` (three cells, one of them preempted mid-run with the Slurm warning
signal) and `slurmfail` (a cell whose data file is missing, beside one that trains), submitted first with
launcher.wait=false and collected afterwards by the same command."""
from __future__ import annotations

import csv
import html
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.run.slurm_cluster import require_slurm

ROOT = Path(__file__).resolve().parents[2]
STUDIES = Path(__file__).resolve().parent / "studies"


def _train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _losses(run_dir: Path) -> dict[int, list[str]]:
    """step -> every train/loss logged for it, as written (bitwise: compared as text of the float32 value)."""
    out: dict[int, list[str]] = {}
    for row in csv.DictReader((run_dir / "metrics.csv").open()):
        if row.get("train/loss"):
            out.setdefault(int(row["step"]), []).append(row["train/loss"])
    return out


def _preempt_when_running(run_dir: Path, jobs_file: Path, at_step: int, sent: dict) -> None:
    """Wait for the cell to pass `at_step`, then send its job Slurm's warning signal (what preemption sends)."""
    deadline = time.time() + 400
    while time.time() < deadline and "job" not in sent:
        try:
            step = json.loads((run_dir / "progress.json").read_text())["step"]
            job = json.loads(jobs_file.read_text())[run_dir.name]
        except (OSError, ValueError, KeyError):
            time.sleep(0.3)
            continue
        if step >= at_step:
            subprocess.run(["scancel", "--signal=USR1", job], check=True)
            sent.update(job=job, step=step)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster():
    require_slurm()


def test_studies_on_slurm_preemption_failure_and_relaunch(cluster, tmp_path):
    out = tmp_path / "runs"
    # 1. the failing study, submitted without waiting
    fail = _train(f"study={STUDIES / 'slurmfail.yaml'}", "launcher=slurm", "launcher.gpus_per_cell=0",
                  "launcher.wait=false", f"out_dir={out}")
    assert fail.returncode == 0, fail.stdout + fail.stderr
    assert "submitted 2 cells" in fail.stdout and "not waiting" in fail.stdout

    # 2. the three-cell study; its second cell gets the warning signal mid-run
    study = out / "slurm3"
    victim = study / "linear_3to1-seed2-s0"
    sent: dict = {}
    watcher = threading.Thread(target=_preempt_when_running,
                               args=(victim, study / "slurm" / "jobs.json", 3, sent), daemon=True)
    watcher.start()
    proc = _train(f"study={STUDIES / 'slurm3.yaml'}", "launcher=slurm", "launcher.gpus_per_cell=0",
                  "launcher.poll_s=1", f"out_dir={out}")
    watcher.join(timeout=5)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "job" in sent, "the preempted cell finished before the signal could be sent"
    cells = ["linear_3to1-seed1-s0", "linear_3to1-seed2-s0", "full_attention-seed3-s0"]
    for name in cells:
        run = study / name
        status = json.loads((run / "cell.json").read_text())
        assert status["state"] == "done" and status["rc"] == 0, status
        assert (run / "probes.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        assert (run / "config.yaml").is_file() and _losses(run)
    assert json.loads((victim / "cell.json").read_text())["attempts"] == 2  # requeued once, then resumed
    job = sent["job"]
    log = "".join(p.read_text(errors="replace") for p in (study / "slurm").glob(f"{job}/*.out"))
    assert "requeu" in log.lower() and "Restored all states from the checkpoint" in log, log[-3000:]

    # the preempted cell resumed from its checkpoint: its losses are the uninterrupted twin's, bitwise
    reference, resumed = _losses(study / "linear_3to1-seed1-s0"), _losses(victim)
    assert sorted(reference) == list(range(8)) and max(resumed) == 7  # Lightning logs step k for the k+1-th
    for step, values in resumed.items():
        assert all(v == reference[step][0] for v in values), (step, values, reference[step])
    report = (study / "report.md").read_text()
    assert "| linear_3to1-seed2-s0 | done (2 attempts)" in report and (study / "report.html").is_file()
    assert (study / "plots" / "headlines.png").is_file()

    # 3. the failing study: collected by the same command, its failed cell reported with its error
    fail = _train(f"study={STUDIES / 'slurmfail.yaml'}", "launcher=slurm", "launcher.gpus_per_cell=0",
                  "launcher.poll_s=1", f"out_dir={out}")
    assert fail.returncode == 1, fail.stdout + fail.stderr
    assert "submitted 1 cells: files-s0" in fail.stdout  # a failed cell is tried again, a finished one is not
    missing = "data.paths: '/nonexistent/corpus.jsonl' does not exist"
    assert f"  files-s0: failed: {missing}" in fail.stdout
    fail_dir = out / "slurmfail"
    assert json.loads((fail_dir / "synthetic-s0" / "cell.json").read_text())["state"] == "done"
    assert missing in (fail_dir / "report.md").read_text()
    assert html.escape(missing) in (fail_dir / "report.html").read_text()

    # 4. relaunching the finished study submits nothing and touches no cell, only the report
    def snapshot() -> dict[str, float]:
        return {str(p): p.stat().st_mtime_ns for name in cells for p in (study / name).rglob("*") if p.is_file()}

    before, jobs_before = snapshot(), (study / "slurm" / "jobs.json").read_text()
    report_before = (study / "report.md").stat().st_mtime_ns
    again = _train(f"study={STUDIES / 'slurm3.yaml'}", "launcher=slurm", "launcher.gpus_per_cell=0",
                   f"out_dir={out}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to submit" in again.stdout
    assert snapshot() == before and (study / "slurm" / "jobs.json").read_text() == jobs_before
    assert (study / "report.md").stat().st_mtime_ns > report_before
