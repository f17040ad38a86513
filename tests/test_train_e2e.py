"""End to end through train.py on the CPU: a size=tiny run whose loss falls, then a resume from its checkpoint."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _train(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _losses(metrics: Path, key: str) -> list[tuple[int, float]]:
    rows = csv.DictReader(metrics.open())
    return [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]


def test_tiny_run_loss_falls_then_resumes(tmp_path):
    common = ["recipe=kda_3to1", "size=tiny", "trainer.logger=csv", f"out_dir={tmp_path}", "trainer.val_every=40",
              "trainer.ckpt_every=40", "trainer.progress_bar=false"]
    proc = _train(*common, "trainer.max_steps=80", "name=first")
    assert "layout (3:1): L L L A | L L L A" in proc.stdout
    run = tmp_path / "first"
    assert (run / "config.yaml").is_file() and "variant: kda" in (run / "config.yaml").read_text()
    train = _losses(run / "metrics.csv", "train/loss")
    val = _losses(run / "metrics.csv", "val/loss")
    first = sum(v for _, v in train[:3]) / 3
    last = sum(v for _, v in train[-3:]) / 3
    assert last < first - 1.0, f"train loss did not clearly fall: {first:.3f} -> {last:.3f}"
    assert len(val) == 2 and val[1][1] < val[0][1], val
    tps = _losses(run / "metrics.csv", "perf/tokens_per_s")
    assert tps and all(v > 0 for _, v in tps)

    ckpt = run / "checkpoints" / "step000040.ckpt"
    assert ckpt.is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    _train(*common, "trainer.max_steps=50", "name=resumed", f"ckpt_path={ckpt}")
    resumed = _losses(tmp_path / "resumed" / "metrics.csv", "train/loss")
    assert resumed and min(s for s, _ in resumed) >= 40  # it continued from step 40, not from scratch
