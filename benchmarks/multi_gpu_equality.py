"""Same science on N devices: the train/loss curve of N-device DDP (and FSDP) against 1 device accumulating N
micro-batches per step (the same global batch and, by data/shards.py, the same rows at every step).

    python benchmarks/multi_gpu_equality.py                       # size=small, 200 steps, 2 GPUs: ddp and fsdp
    python benchmarks/multi_gpu_equality.py --record              # also a dated record in benchmarks/results/
    python benchmarks/multi_gpu_equality.py --size tiny --steps 24 trainer.accelerator=cpu model.n_layers=4
Prints, per strategy, the max and median relative difference of the curves over every step and whether the max is
within --rtol (the bf16 noise allowed; exit 1 if not). The CPU twin in fp32 is tests/run/test_multi_device.py.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, record_arg, write_record  # noqa: E402

RTOL = 2e-2
"""Default allowance, relative per step: bf16-mixed rounds activations to 8 bits of mantissa (~4e-3 each), and
reduction orders differ between DDP, FSDP and accumulation."""


def curve(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}


def compare(a: dict[int, float], b: dict[int, float]) -> dict:
    """Max and median of |a - b| / |b| over the steps both curves hold, and how many that is."""
    steps = sorted(set(a) & set(b))
    if not steps:
        raise ValueError("the curves share no step")
    rel = [abs(a[s] - b[s]) / abs(b[s]) for s in steps]
    return {"steps": len(steps), "max": max(rel), "median": statistics.median(rel),
            "at": steps[rel.index(max(rel))]}


def train(out: Path, name: str, size: str, steps: int, extra: list[str]) -> Path:
    argv = [
        f"size={size}", f"trainer.max_steps={steps}", "trainer.logger=csv", "trainer.progress_bar=false",
        "trainer.log_every=1", f"trainer.val_every={steps}", f"trainer.ckpt_every={steps}", "eval.at_end=false",
        f"out_dir={out}", f"name={name}", *extra]
    proc = subprocess.run([sys.executable, "train.py", *argv], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: train.py exited {proc.returncode}: "
                         f"{(proc.stderr or proc.stdout).strip().splitlines()[-1]}")
    return out / name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="kda_3to1")
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--devices", type=int, default=2, help="devices of the multi-device runs")
    ap.add_argument("--strategies", nargs="+", choices=["ddp", "fsdp"], default=["ddp", "fsdp"])
    ap.add_argument("--rtol", type=float, default=RTOL, help="largest relative difference per step that passes")
    record_arg(ap)
    ap.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    a = ap.parse_args()
    if a.devices < 2:
        ap.error(f"--devices {a.devices}: compare at least 2 devices with 1")
    base = [f"recipe={a.recipe}", *a.overrides]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        one = curve(train(out, "one", a.size, a.steps, [*base, "trainer.devices=1",
                                                         f"trainer.accumulate={a.devices}"]))
        rows = []
        for strategy in a.strategies:
            many = curve(train(out, strategy, a.size, a.steps, [*base, f"trainer.devices={a.devices}",
                                                                 f"trainer.strategy={strategy}"]))
            c = compare(many, one)
            rows.append((strategy, c))
            print(f"{strategy} x{a.devices} vs 1 device accumulating {a.devices}: max relative difference "
                  f"{c['max']:.2e} (step {c['at']}), median {c['median']:.2e}, over {c['steps']} steps", flush=True)
    lines = ["| strategy | devices | size | steps | max rel. diff (step) | median rel. diff | within |",
             "|---|---|---|---|---|---|---|"]
    for strategy, c in rows:
        lines.append(f"| {strategy} | {a.devices} vs 1 x accumulate {a.devices} | {a.size} | {c['steps']} | "
                     f"{c['max']:.2e} ({c['at']}) | {c['median']:.2e} | {'yes' if c['max'] <= a.rtol else 'NO'} "
                     f"(rtol {a.rtol:g}) |")
    table = "\n".join(lines)
    print(table)
    if a.record:
        write_record("multi-gpu-equality", f"{a.recipe} train/loss on {a.devices} devices vs 1 accumulating",
                     table, "Relative difference per logged step of train/loss (the global batch's mean). "
                     f"Overrides: `{' '.join(a.overrides) or 'none'}`.", a.record)
    return 0 if all(c["max"] <= a.rtol for _, c in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
