"""Does training on the Triton kernels follow the torch kernels' loss curve? Same recipe, seed and data, two backends.

    python benchmarks/backend_loss_parity.py [--recipe kda_3to1] [--steps 50] [--record [DIR]]
Prints train/loss per logged step for both backends and their largest relative gap; --record writes a dated record.
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, record_arg, write_record  # noqa: E402


def losses(recipe: str, backend: str, steps: int, out: Path) -> dict[int, float]:
    subprocess.run([sys.executable, "train.py", f"recipe={recipe}", f"kernels.backend={backend}",
                    f"trainer.max_steps={steps}", "trainer.logger=csv", "trainer.log_every=5",
                    "trainer.progress_bar=false", f"trainer.val_every={steps}", "eval.at_end=false", "eval.every=0",
                    f"out_dir={out}", f"name={backend}"], cwd=ROOT, check=True, capture_output=True)
    rows = csv.DictReader((out / backend / "metrics.csv").open())
    return {int(r["step"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="kda_3to1")
    ap.add_argument("--steps", type=int, default=50)
    record_arg(ap)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        torch_l = losses(a.recipe, "torch", a.steps, Path(tmp))
        triton_l = losses(a.recipe, "triton", a.steps, Path(tmp))
    lines = ["| step | torch loss | triton loss | rel. gap |", "|---|---|---|---|"]
    gaps = []
    for step in sorted(torch_l):
        gap = abs(triton_l[step] - torch_l[step]) / abs(torch_l[step])
        gaps.append(gap)
        lines.append(f"| {step} | {torch_l[step]:.4f} | {triton_l[step]:.4f} | {gap:.2%} |")
    table = "\n".join(lines)
    print(table)
    print(f"max relative gap {max(gaps):.2%}")
    if a.record:
        write_record("loss-parity", f"Loss parity of kernels.backend=triton vs torch ({a.recipe}, small, {a.steps} "
                     "steps)", table, f"Largest relative gap {max(gaps):.2%} (bf16-mixed, same seed and data).",
                     a.record)


if __name__ == "__main__":
    main()
