"""A run stopped by a signal saves at the step boundary, exits non-zero, and `resume=auto` continues it bit for bit;
a run killed while writing a checkpoint resumes from the newest checkpoint that reads back."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

import run.build
import train

ROOT = Path(__file__).resolve().parents[2]
STEPS = 4


def _argv(out: Path, name: str, *extra: str) -> list[str]:
    return ["recipe=kda_3to1", "size=tiny", "model.n_layers=4", "data.seq_len=64", "data.batch_size=4",
            "eval.at_end=false", "trainer.logger=csv", "trainer.progress_bar=false", f"trainer.max_steps={STEPS}",
            "trainer.log_every=1", "trainer.val_every=1000", "trainer.ckpt_every=1000", f"out_dir={out}",
            f"name={name}", *extra]


def _losses(run_dir: Path) -> dict[int, str]:
    """step -> train/loss exactly as written (text, so equality is bitwise)."""
    with (run_dir / "metrics.csv").open() as f:
        return {int(r["step"]): r["train/loss"] for r in csv.DictReader(f) if r.get("train/loss")}


class _SignalAt(L.Callback):
    """Sends `signum` to this process at the end of training step `step` (as a scheduler would, mid-run)."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def _with_signal(monkeypatch, signum: int, step: int) -> None:
    build = run.build.build_callbacks
    monkeypatch.setattr(run.build, "build_callbacks", lambda cfg, rd: [_SignalAt(signum, step), *build(cfg, rd)])


def test_sigterm_saves_exits_nonzero_and_resume_auto_is_bitwise(tmp_path, monkeypatch):
    assert train.main(_argv(tmp_path, "straight")) == 0
    straight = _losses(tmp_path / "straight")
    assert sorted(straight) == list(range(STEPS))

    with monkeypatch.context() as m:
        _with_signal(m, signal.SIGTERM, 2)
        assert train.main(_argv(tmp_path, "stopped")) == 128 + signal.SIGTERM
    ckpt = tmp_path / "stopped" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored after the run

    assert train.main(_argv(tmp_path, "stopped", "resume=auto")) == 0
    assert _losses(tmp_path / "stopped") == straight  # one history, appended, identical to the uninterrupted run


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGUSR1])
def test_sigint_and_the_slurm_warning_signal_save_and_exit_nonzero(tmp_path, monkeypatch, signum):
    _with_signal(monkeypatch, signum, 1)
    assert train.main(_argv(tmp_path, "r")) == 128 + signum
    ckpt = torch.load(tmp_path / "r" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 1


KILL_DURING_WRITE = """
import os, signal, sys, torch
import run.checkpoint_io as io
import train
writes = []
real_save = torch.save
def dying_save(obj, f, *a, **k):
    writes.append(getattr(f, "name", f))
    if len(writes) == int(sys.argv[1]):  # write half of this checkpoint, then die as a node failure would
        real_save(obj, f, *a, **k)
        f.truncate(f.tell() // 2)
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *a, **k)
io.torch.save = dying_save
sys.exit(train.main(sys.argv[2:]))
"""


def test_a_run_killed_while_writing_a_checkpoint_resumes(tmp_path):
    from run.checkpoint_io import TMP_SUFFIX

    # ckpt_every=1: steps 1 and 2 each write step00000N.ckpt then last.ckpt; the 3rd write (step 2's) is killed.
    argv = _argv(tmp_path, "killed", "trainer.ckpt_every=1")
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, "3", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    ckpts = tmp_path / "killed" / "checkpoints"
    partial = list(ckpts.glob(f".*{TMP_SUFFIX}"))
    assert len(partial) == 1 and partial[0].name.startswith(".step000002.ckpt.")  # never at the final name
    assert sorted(p.name for p in ckpts.glob("*.ckpt")) == ["last.ckpt", "step000001.ckpt"]

    (ckpts / "last.ckpt").write_bytes((ckpts / "last.ckpt").read_bytes()[:1000])  # and damage the newest one
    with pytest.warns(UserWarning, match="skipping a damaged checkpoint.*last.ckpt"):
        assert train.main([*argv, "resume=auto"]) == 0
    assert not list(ckpts.glob(f".*{TMP_SUFFIX}"))  # the dead write's leftover is cleaned up
    assert set(range(1, STEPS)) <= set(_losses(tmp_path / "killed"))  # the resume went on from step 1
    last = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == STEPS


def test_slurm_warning_signal_saves_at_the_step_boundary_requeues_and_the_requeued_job_resumes(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'scontrol.log'}\n")
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for key, value in {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1",
                       "SLURM_JOB_NAME": "train", "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
                       "SLURM_NODELIST": "localhost"}.items():
        monkeypatch.setenv(key, value)
    argv = [a for a in _argv(tmp_path / "runs", "unused") if not a.startswith("name=")]
    with monkeypatch.context() as m:
        _with_signal(m, signal.SIGUSR1, 2)
        assert train.main(argv) == 128 + signal.SIGUSR1
    run_dir = tmp_path / "runs" / "kda_3to1-tiny-slurm4242"  # the job id names the run: a requeue finds it
    hpc = list((run_dir / "checkpoints").glob("hpc_ckpt_*.ckpt"))
    assert len(hpc) == 1 and torch.load(hpc[0], map_location="cpu", weights_only=False)["global_step"] == 2
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]

    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the requeued job: same command, no resume flag needed
    assert train.main(argv) == 0
    losses = _losses(run_dir)
    assert sorted(losses) == list(range(STEPS))
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == STEPS


def test_sigterm_to_the_whole_process_group_saves_despite_the_data_workers(tmp_path):
    """Slurm (and `timeout`, and Ctrl-C in a terminal) signal every process of the job, the DataLoader workers
    included; the workers must leave stopping to the main process, which saves at the step boundary."""
    argv = _argv(tmp_path, "group", "data.num_workers=2", "trainer.max_steps=100000")
    proc = subprocess.Popen([sys.executable, "train.py", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    progress = tmp_path / "group" / "progress.json"
    try:
        deadline = time.time() + 300
        while not (progress.exists() and json.loads(progress.read_text() or "{}").get("step", 0) >= 3):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-3000:]
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert "DataLoader worker" not in out, out[-3000:]
    last = tmp_path / "group" / "checkpoints" / "last.ckpt"
    step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert step >= 3
    more = [a for a in argv if not a.startswith("trainer.max_steps")] + [f"trainer.max_steps={step + 2}"]
    assert train.main([*more, "resume=auto"]) == 0
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == step + 2


def test_a_worker_killed_by_a_stop_signal_is_a_stop_even_before_the_handler_ran():
    """A group SIGTERM can kill a DataLoader worker, and the DataLoader raise from its SIGCHLD handler, before this
    process's own SIGTERM handler has recorded the signal: the worker's death names the signal, so fit still ends as
    stopped (saved, exit 143). A worker killed otherwise (the OOM killer's SIGKILL) stays an error."""
    from run.signals import StopOnSignal, worker_stop_signal

    stopper = StopOnSignal("unused")
    term = RuntimeError("DataLoader worker (pid 14593) is killed by signal: Terminated. ")
    assert worker_stop_signal(term) == signal.SIGTERM and stopper.stopped_by(term)
    assert worker_stop_signal(RuntimeError("DataLoader worker (pid 7) is killed by signal: Interrupt. ")) == \
        signal.SIGINT
    killed = RuntimeError("DataLoader worker (pid 14593) is killed by signal: Killed. ")
    assert worker_stop_signal(killed) is None and not stopper.stopped_by(killed)
    assert worker_stop_signal(ValueError("DataLoader worker (pid 1) is killed by signal: Terminated.")) is None
    stopper.signum = signal.SIGTERM  # recorded first: any worker death is then part of the stop
    assert stopper.stopped_by(killed)

