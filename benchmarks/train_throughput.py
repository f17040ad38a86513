"""End-to-end training throughput: runs train.py for a few hundred steps per recipe and reports tokens/s and MFU.

    python benchmarks/train_throughput.py --recipes kda_3to1 gdn_3to1 full_attention --steps 300 [--size small]
    python benchmarks/train_throughput.py --recipes kda_3to1 --size base --devices 1,2 [--strategy ddp|fsdp]
Each (recipe, device count) is one train.py launch (probes off; more than one device with --strategy, data.batch_size
rows per device, so the global batch grows with the devices); wall s is that whole launch. tokens/s counts every
rank; "x 1 device" is the speedup over the same recipe's 1-device run. Writes a table to stdout and, with --record,
a dated record to benchmarks/results/ (device, versions, date, commit).
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


def train_argv(recipe: str, size: str, steps: int, out: Path, extra: list[str], name: str | None = None) -> list[str]:
    """train.py's arguments for a timed run: csv metrics into out/<name, default the recipe>, no progress bar,
    validation and a checkpoint only at the end, no probes."""
    return [f"recipe={recipe}", f"size={size}", f"trainer.max_steps={steps}", "trainer.logger=csv",
            "trainer.progress_bar=false", f"trainer.val_every={steps}", f"trainer.ckpt_every={steps}",
            "eval.at_end=false", "eval.every=0", f"out_dir={out}", f"name={name or recipe}", *extra]


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


def devices_arg(text: str) -> list[int]:
    """--devices 1,2 -> [1, 2]; anything else is a usage error naming the format."""
    try:
        counts = [int(p) for p in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--devices {text!r}: give device counts >= 1 separated by commas, e.g. 1,2")
    return counts


def device_overrides(devices: int, strategy: str) -> list[str]:
    """train.py overrides for a run on `devices` devices (one device: Lightning's default single-device strategy)."""
    return [f"trainer.devices={devices}"] + ([f"trainer.strategy={strategy}"] if devices > 1 else [])


def run_one(recipe: str, size: str, steps: int, extra: list[str], out: Path, devices: int = 1,
            strategy: str = "ddp") -> dict:
    name = f"{recipe}-d{devices}"
    argv = [*train_argv(recipe, size, steps, out, extra, name), *device_overrides(devices, strategy)]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "train.py", *argv], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"recipe": recipe, "devices": devices, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1]}
    return {"recipe": recipe, "devices": devices, **summarize(out / name / "metrics.csv"), "wall_s": wall}


def table(results: list[dict], size: str, steps: int, strategy: str) -> str:
    """The markdown table; the speedup column compares each run with its recipe's 1-device run."""
    single = {r["recipe"]: r["tokens_per_s"] for r in results if r["devices"] == 1 and "error" not in r}
    lines = ["| recipe | size | devices | steps | tokens/s | x 1 device | MFU | loss (last 3 logs) | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        where = f"{r['devices']}" + (f" ({strategy})" if r["devices"] > 1 else "")
        if "error" in r:
            lines.append(f"| {r['recipe']} | {size} | {where} | {steps} | failed: {r['error']} | | | | |")
            continue
        speedup = f"{r['tokens_per_s'] / single[r['recipe']]:.2f}x" if r["recipe"] in single else "-"
        lines.append(f"| {r['recipe']} | {size} | {where} | {steps} | {r['tokens_per_s']:,.0f} | {speedup} | "
                     f"{r['mfu']:.1%} | {r['final_loss']:.3f} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", nargs="+", default=["kda_3to1", "gdn_3to1", "full_attention"])
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--devices", type=devices_arg, default=[1], help="device counts to run each recipe on, e.g. 1,2")
    ap.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp", help="strategy of the multi-device runs")
    record_arg(ap)
    ap.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in a.recipes:
            for devices in a.devices:
                r = run_one(recipe, a.size, a.steps, a.overrides, Path(tmp), devices, a.strategy)
                print(r, flush=True)
                results.append(r)
    text = table(results, a.size, a.steps, a.strategy)
    print(text)
    if a.record:
        extra = f" Overrides: `{' '.join(a.overrides)}`." if a.overrides else ""
        write_record("train-throughput", f"Training throughput at size {a.size}, {a.steps} steps", text,
                     "Median perf/tokens_per_s over the second half of the run, whole train.py process timed for "
                     f"wall s; tokens/s counts every rank.{extra}", a.record)


if __name__ == "__main__":
    main()
