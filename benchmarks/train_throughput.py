"""End-to-end training throughput: runs train.py for a few hundred steps per recipe and reports tokens/s and MFU.

    python benchmarks/train_throughput.py --recipes kda_3to1 gdn_3to1 full_attention --steps 300 [--size small]
Each recipe is one train.py process (probes off); wall s is that whole process. Writes a table to stdout and, with
--record, a dated record to benchmarks/results/ (device, versions, date, commit).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, record_arg, write_record  # noqa: E402


def train_argv(recipe: str, size: str, steps: int, out: Path, extra: list[str]) -> list[str]:
    """train.py's arguments for a timed run: csv metrics into out/recipe, no progress bar, validation and a checkpoint
    only at the end, no probes."""
    return [f"recipe={recipe}", f"size={size}", f"trainer.max_steps={steps}", "trainer.logger=csv",
            "trainer.progress_bar=false", f"trainer.val_every={steps}", f"trainer.ckpt_every={steps}",
            "eval.at_end=false", "eval.every=0", f"out_dir={out}", f"name={recipe}", *extra]


def summarize(metrics_csv: Path) -> dict:
    """Median perf/tokens_per_s and perf/mfu over the second half of the logged windows (past compilation and
    allocator warm-up), and the mean train/loss of the last three logs."""
    rows = list(csv.DictReader(metrics_csv.open()))
    tps = [float(r["perf/tokens_per_s"]) for r in rows if r.get("perf/tokens_per_s")]
    mfu = [float(r["perf/mfu"]) for r in rows if r.get("perf/mfu")]
    loss = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    if not tps:
        raise ValueError(f"{metrics_csv} holds no perf/tokens_per_s: train for more steps than trainer.log_every")
    half = len(tps) // 2
    return {"tokens_per_s": statistics.median(tps[half:]),
            "mfu": statistics.median(mfu[len(mfu) // 2:]) if mfu else float("nan"),
            "final_loss": statistics.mean(loss[-3:]) if loss else float("nan")}


def run_one(recipe: str, size: str, steps: int, extra: list[str], out: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "train.py", *train_argv(recipe, size, steps, out, extra)], cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"recipe": recipe, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1]}
    return {"recipe": recipe, **summarize(out / recipe / "metrics.csv"), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", nargs="+", default=["kda_3to1", "gdn_3to1", "full_attention"])
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=300)
    record_arg(ap)
    ap.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in a.recipes:
            r = run_one(recipe, a.size, a.steps, a.overrides, Path(tmp))
            print(r, flush=True)
            results.append(r)
    lines = ["| recipe | size | steps | tokens/s | MFU | loss (last 3 logs) | wall s |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['recipe']} | {a.size} | {a.steps} | failed: {r['error']} | | | |")
        else:
            lines.append(f"| {r['recipe']} | {a.size} | {a.steps} | {r['tokens_per_s']:,.0f} | {r['mfu']:.1%} | "
                         f"{r['final_loss']:.3f} | {r['wall_s']:.0f} |")
    table = "\n".join(lines)
    print(table)
    if a.record:
        extra = f" Overrides: `{' '.join(a.overrides)}`." if a.overrides else ""
        write_record("train-throughput", f"Training throughput at size {a.size}, {a.steps} steps", table,
                     "Median perf/tokens_per_s over the second half of the run, whole train.py process timed for "
                     f"wall s.{extra}", a.record)


if __name__ == "__main__":
    main()
