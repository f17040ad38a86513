"""A launch on several ranks makes one run directory shared by every rank, says done once and logs to one W&B run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_ranks_share_one_run_dir(tmp_path):
    argv = ["recipe=kda_3to1", "size=tiny", "model.n_layers=4", "data.seq_len=32", "data.batch_size=2",
            "eval.at_end=false", "trainer.logger=wandb", "trainer.progress_bar=false", "trainer.max_steps=2",
            "trainer.val_every=1000", "trainer.accelerator=cpu", "trainer.devices=2", f"out_dir={tmp_path}"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run([sys.executable, "train.py", *argv], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1, runs  # each rank used to stamp its own name
    assert (runs[0] / "checkpoints" / "last.ckpt").is_file()
    assert proc.stdout.count("done: step 2") == 1
    assert len(list((runs[0] / "wandb").glob("offline-run-*"))) == 1  # rank 1 logs nothing
