"""Two CPU processes (gloo) give the one-process result: DDP and FSDP (full sharding) against one process that
accumulates two micro-batches per step, the same global batch; checkpoints move between the two world sizes.

size=tiny at 4 layers, 24 steps, fp32: the train/loss curves of DDP and accumulation agree to RTOL_DDP (the same
rows per step, data/shards.py), FSDP's to RTOL_FSDP; a run resumed in the other world size continues the
uninterrupted run's curve.
The GPU twin at size=small over 200 steps is benchmarks/multi_gpu_equality.py.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS, CKPT = 24, 12
RTOL_DDP = 1e-5
"""fp32 on CPU: DDP vs accumulation, relative, every step (measured: bitwise equal here)."""
RTOL_FSDP = 1e-5
"""fp32 on CPU: FSDP vs accumulation, relative, every step (measured: 7e-8 by step 24; the global gradient norm sums
its squares per shard, so clipping scales by a slightly other factor). Weight decay decided from FSDP's flattened
1-D shards instead of the model's shapes showed here as 1.7e-4."""
BASE = ["recipe=kda_3to1", "size=tiny", "model.n_layers=4", "data.seq_len=32", "data.batch_size=2",
        "trainer.logger=csv", "trainer.progress_bar=false", f"trainer.max_steps={STEPS}", "trainer.log_every=1",
        "trainer.val_every=1000", f"trainer.ckpt_every={CKPT}", "trainer.accelerator=cpu", "eval.at_end=false"]
TWO = {"ddp": ["trainer.devices=2", "trainer.strategy=ddp"], "fsdp": ["trainer.devices=2", "trainer.strategy=fsdp"]}
ONE = ["trainer.devices=1", "trainer.accumulate=2"]


def _train(out: Path, name: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "train.py", *BASE, f"out_dir={out}", f"name={name}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == expect, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _curve(run_dir: Path) -> dict[int, float]:
    """step -> train/loss from metrics.csv (steps as Lightning logs them: 0-based optimizer steps)."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}


def _max_rel(a: dict[int, float], b: dict[int, float], steps) -> float:
    return max(abs(a[s] - b[s]) / abs(b[s]) for s in steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("multi_device")
    procs = {"one": _train(out, "one", *ONE), "ddp": _train(out, "ddp", *TWO["ddp"]),
             "fsdp": _train(out, "fsdp", *TWO["fsdp"], "eval.at_end=true", "eval.examples=1",
                            "eval.probes=[multihop,copy]", f"eval.every={CKPT}", "eval.callback_examples=1")}
    return {"out": out, "procs": procs, **{k: _curve(out / k) for k in procs}}


def test_two_process_ddp_gives_the_one_process_accumulated_curve(runs):
    assert sorted(runs["one"]) == list(range(STEPS)) and sorted(runs["ddp"]) == list(range(STEPS))
    assert _max_rel(runs["ddp"], runs["one"], range(STEPS)) <= RTOL_DDP
    assert runs["one"][STEPS - 1] < runs["one"][0]  # it trains: the comparison is not between two flat lines


def test_two_process_fsdp_gives_the_one_process_accumulated_curve(runs):
    assert sorted(runs["fsdp"]) == list(range(STEPS))
    assert _max_rel(runs["fsdp"], runs["one"], range(STEPS)) <= RTOL_FSDP


def test_fsdp_probes_during_and_after_training_once_on_rank_zero(runs):
    proc, run_dir = runs["procs"]["fsdp"], runs["out"] / "fsdp"
    assert proc.stdout.count(f"done: step {STEPS}") == 1 and proc.stdout.count("probing:") == 1
    probes = json.loads((run_dir / "probes.json").read_text())
    assert set(probes["probes"]) == {"multihop", "copy"}
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    probed = [int(r["step"]) for r in rows if r.get("probe/regular/loss")]
    assert probed == [CKPT, STEPS]  # in-training probes on weights gathered from both shards, once per period
    steps = [int(r["step"]) for r in rows if r.get("train/loss")]
    assert len(steps) == len(set(steps))  # one row per step: rank 1 wrote nothing


@pytest.mark.parametrize(("saved", "resumed", "args"), [("ddp", "one", ONE), ("one", "ddp", TWO["ddp"]),
                                                         ("fsdp", "one", ONE), ("one", "fsdp", TWO["fsdp"])])
def test_a_checkpoint_resumes_token_exactly_in_the_other_world_size(runs, saved, resumed, args):
    ckpt = runs["out"] / saved / "checkpoints" / f"step{CKPT:06d}.ckpt"
    name = f"{saved}-to-{resumed}"
    _train(runs["out"], name, *args, f"ckpt_path={ckpt}")
    got = _curve(runs["out"] / name)
    assert sorted(got) == list(range(CKPT, STEPS))
    assert _max_rel(got, runs[resumed], range(CKPT, STEPS)) <= (RTOL_FSDP if "fsdp" in name else RTOL_DDP)


def test_a_checkpoint_into_another_data_order_is_one_line_and_writes_nothing(runs):
    ckpt = runs["out"] / "ddp" / "checkpoints" / f"step{CKPT:06d}.ckpt"
    proc = _train(runs["out"], "mismatch", "trainer.devices=1", f"ckpt_path={ckpt}", expect=2)
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ckpt ")
    assert "devices x trainer.accumulate = 2" in proc.stderr and "trainer.accumulate=2" in proc.stderr
    assert not (runs["out"] / "mismatch").exists()
