"""Slurm's warning signal (SIGUSR1, `--signal=USR1@90`) -> a checkpoint at the next step boundary, `scontrol requeue`
of this job, and exit, so the requeued job resumes token-exactly (the study test compares every step's loss).

Lightning's own auto-requeue saves inside the signal handler, mid-step; its resumed losses differ from an
uninterrupted run's (tests/run/test_study_slurm.py), so build_trainer gives Lightning a SLURMEnvironment without
auto-requeue and this callback instead. Under DDP every rank agrees on the step through one boolean all-reduce.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L

REQUEUE_CKPT = "requeue.ckpt"
"""The step-boundary checkpoint a warned job leaves in <run_dir>/checkpoints/ (the newest one, so resume takes it)."""
EXIT_CODE = 3
"""How a cell that saved and requeued itself exits (non-zero: the job did not finish)."""


def slurm_job_id() -> str | None:
    """This job's id as scontrol names it: <array job>_<task> for an array task."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array and os.environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


class RequeueOnSignal(L.Callback):
    """On `signum`: finish the current step, save <run_dir>/checkpoints/requeue.ckpt, requeue the job, exit 3."""

    def __init__(self, run_dir: str | Path, signum: int = signal.SIGUSR1) -> None:
        self.path = Path(run_dir) / "checkpoints" / REQUEUE_CKPT
        self.signum, self.received = signum, False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        self.received = True  # acted on at the step boundary, never inside the handler

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._previous = signal.signal(self.signum, self._handler)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._previous is not None:
            signal.signal(self.signum, self._previous)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not trainer.strategy.reduce_boolean_decision(self.received, all=False):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)  # never a half-written checkpoint under the name resume looks for
            job = slurm_job_id()
            if job:
                done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, check=False)
                note = "requeued" if done.returncode == 0 else f"requeue failed: {done.stderr.strip()}"
            else:
                note = "not a Slurm job, so not requeued"
            print(f"signal {signal.Signals(self.signum).name}: saved {self.path} at step {trainer.global_step}; "
                  f"job {job}: {note}", file=sys.stderr, flush=True)
        trainer.strategy.barrier("requeue")
        raise SystemExit(EXIT_CODE)
