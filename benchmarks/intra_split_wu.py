"""A/B of the intra-chunk forward's U0 / W step: fused into the forward kernel (pass 2) or its own launch
(`kernels/triton_intra_wu.py`, `intra_chunk_fwd(split_wu=True)`), on the GPU, at the kernel benchmark's shapes.

    python benchmarks/intra_split_wu.py [--ops gated_delta_rule kda] [--shapes 1x32768 ...] [--record]

Per op and shape: the intra forward alone (both launches when split), then the whole op forward and forward+backward
with `triton_intra_fwd.SPLIT_WU` off and on (ms, medians of CUDA-event timings; fused / split alternate, twice each,
so drift shows), and the largest RMSE / RMS between the two paths' U0 and W (they run the same products).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import append_section  # noqa: E402

from kernels import triton_intra_fwd  # noqa: E402
from kernels.triton_l2norm import l2norm_triton  # noqa: E402

# benchmarks/kernels.py by path: its name is the kernels package's
_spec = importlib.util.spec_from_file_location("bench_kernels", Path(__file__).resolve().parent / "kernels.py")
bench_kernels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_kernels)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt().clamp_min(1e-30)).item()


def measure(op: str, B: int, T: int, budget: float) -> list[str]:
    x = bench_kernels.make_inputs(op, B, T, seed=B * T)
    call = bench_kernels.ours(op, "triton")
    do = torch.randn_like(x["v"])
    with torch.no_grad():  # the intra forward's inputs as the op passes them: q, k L2-normalised (q scaled)
        q = l2norm_triton(x["q"], x["q"].shape[-1] ** -0.5)
        k = l2norm_triton(x["k"])
        g = x["g"] if op == "kda" else x["g"].unsqueeze(-1)
        args = (q, k, x["v"], g, x["beta"], bench_kernels.CHUNK)

    def intra(split: bool):
        return triton_intra_fwd.intra_chunk_fwd(*args, compact=True, split_wu=split)

    def fwd():
        with torch.no_grad():
            call(x)

    def fwd_bwd():
        for t in x.values():
            t.grad = None
        call(x).backward(do)

    err = max(rel_err(a, b) for a, b in zip(intra(True)[:2], intra(False)[:2]))
    times = {}
    for _ in range(2):
        for split in (False, True):
            triton_intra_fwd.SPLIT_WU = split
            for name, fn in (("intra", lambda s=split: intra(s)), ("fwd", fwd), ("fwd+bwd", fwd_bwd)):
                times.setdefault((name, split), []).append(bench_kernels.bench(fn, budget_s=budget))
    triton_intra_fwd.SPLIT_WU = False
    cells = [" / ".join(f"{t:.3f}" for t in times[(name, split)]) for name in ("intra", "fwd", "fwd+bwd")
             for split in (False, True)]
    return ["GDN" if op == "gated_delta_rule" else "KDA", str(B), str(T), *cells, f"{err:.1e}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", nargs="+", default=["gated_delta_rule", "kda"], choices=["gated_delta_rule", "kda"])
    ap.add_argument("--shapes", nargs="+", type=bench_kernels.shape_arg, metavar="BxT",
                    help="these (B, T) only (default: the kernel benchmark's five)")
    ap.add_argument("--budget", type=float, default=0.15, help="seconds of timed repetitions per cell")
    ap.add_argument("--record", action="store_true", help="append the table to BENCHMARKS.md")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("intra_split_wu: needs a CUDA GPU (it times kernels)")
    head = ["op", "B", "T", "intra fused ms", "intra split ms", "fwd fused ms", "fwd split ms", "fwd+bwd fused ms",
            "fwd+bwd split ms", "U0 / W split vs fused"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for op in a.ops:
        for B, T in a.shapes or bench_kernels.SHAPES:
            rows.append("| " + " | ".join(measure(op, B, T, a.budget)) + " |")
            print(rows[-1], flush=True)
            torch.cuda.empty_cache()
    table = "\n".join(rows)
    notes = (f"H={bench_kernels.H}, D={bench_kernels.D}, C={bench_kernels.CHUNK}, bf16 inputs as in "
             "benchmarks/kernels.py, float16 chunk tensors, tf32. Each cell: two runs, fused and split alternating.")
    print("\n" + table + "\n\n" + notes)
    if a.record:
        append_section("Intra forward: U0 / W fused (pass 2) vs their own launch", table, notes)


if __name__ == "__main__":
    main()
