"""A/B of the intra-chunk forward's launch variants on the GPU, at the kernel benchmark's shapes: U0 / W fused into
the forward kernel (pass 2) or by their own launch (`kernels/triton_intra_wu.py`, `split_wu`), each with the
compiler's register allocation or a cap (`maxnreg`, e.g. 168: three programs per SM instead of two).

    python benchmarks/intra_split_wu.py [--ops gated_delta_rule kda] [--shapes 1x32768 ...]
                                        [--variants fused split fused-r168 split-r168] [--record]

Per op, shape and variant: the intra forward alone (both launches when split), then the whole op forward and
forward+backward with `triton_intra_fwd.SPLIT_WU` / `MAXNREG` set so (ms, medians of CUDA-event timings; the variants
alternate, twice each, so drift shows), and the largest RMSE / RMS of U0 and W against the fused variant's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import append_section, kernel_benchmark  # noqa: E402

from kernels import triton_intra_fwd  # noqa: E402
from kernels.triton_l2norm import l2norm_triton  # noqa: E402

bench_kernels = kernel_benchmark()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt().clamp_min(1e-30)).item()


def variant(name: str) -> tuple[bool, int | None]:
    """'split-r168' -> (split_wu True, maxnreg 168); 'fused' -> (False, None)."""
    kind, _, cap = name.partition("-r")
    if kind not in ("fused", "split") or (cap and not cap.isdigit()):
        raise argparse.ArgumentTypeError(f"variant must be fused or split, optionally -r<registers> (e.g. split-r168), "
                                         f"got {name!r}")
    return kind == "split", int(cap) if cap else None


def measure(op: str, B: int, T: int, variants: list[str], budget: float) -> list[list[str]]:
    x = bench_kernels.make_inputs(op, B, T, seed=B * T)
    call = bench_kernels.ours(op, "triton")
    do = torch.randn_like(x["v"])
    with torch.no_grad():  # the intra forward's inputs as the op passes them: q, k L2-normalised (q scaled)
        q = l2norm_triton(x["q"], x["q"].shape[-1] ** -0.5)
        k = l2norm_triton(x["k"])
        g = x["g"] if op == "kda" else x["g"].unsqueeze(-1)
        args = (q, k, x["v"], g, x["beta"], bench_kernels.CHUNK)

    def intra(name: str):
        split, cap = variant(name)
        return triton_intra_fwd.intra_chunk_fwd(*args, compact=True, split_wu=split, maxnreg=cap)

    def fwd():
        with torch.no_grad():
            call(x)

    def fwd_bwd():
        for t in x.values():
            t.grad = None
        call(x).backward(do)

    ref = intra("fused")[:2]
    errs = {v: max(rel_err(a, b) for a, b in zip(intra(v)[:2], ref)) for v in variants}
    times = {}
    for _ in range(2):
        for v in variants:
            triton_intra_fwd.SPLIT_WU, triton_intra_fwd.MAXNREG = variant(v)
            for name, fn in (("intra", lambda v=v: intra(v)), ("fwd", fwd), ("fwd+bwd", fwd_bwd)):
                times.setdefault((name, v), []).append(bench_kernels.bench(fn, budget_s=budget))
    triton_intra_fwd.SPLIT_WU, triton_intra_fwd.MAXNREG = False, None
    op_name = "GDN" if op == "gated_delta_rule" else "KDA"
    return [[op_name, str(B), str(T), v, *(" / ".join(f"{t:.3f}" for t in times[(name, v)])
                                         for name in ("intra", "fwd", "fwd+bwd")), f"{errs[v]:.1e}"]
            for v in variants]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", nargs="+", default=["gated_delta_rule", "kda"], choices=["gated_delta_rule", "kda"])
    ap.add_argument("--shapes", nargs="+", type=bench_kernels.shape_arg, metavar="BxT",
                    help="these (B, T) only (default: the kernel benchmark's five)")
    ap.add_argument("--variants", nargs="+", default=["fused", "split", "fused-r168", "split-r168"],
                    help="fused | split, optionally -r<registers> (the forward kernel's register cap)")
    ap.add_argument("--budget", type=float, default=0.1, help="seconds of timed repetitions per cell")
    ap.add_argument("--record", action="store_true", help="append the table to BENCHMARKS.md")
    a = ap.parse_args()
    for v in a.variants:
        try:
            variant(v)
        except argparse.ArgumentTypeError as e:
            ap.error(str(e))
    if not torch.cuda.is_available():
        sys.exit("intra_split_wu: needs a CUDA GPU (it times kernels)")
    head = ["op", "B", "T", "variant", "intra fwd ms", "op fwd ms", "op fwd+bwd ms", "U0 / W vs fused"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for op in a.ops:
        for B, T in a.shapes or bench_kernels.SHAPES:
            for row in measure(op, B, T, a.variants, a.budget):
                rows.append("| " + " | ".join(row) + " |")
                print(rows[-1], flush=True)
            torch.cuda.empty_cache()
    table = "\n".join(rows)
    notes = (f"H={bench_kernels.H}, D={bench_kernels.D}, C={bench_kernels.CHUNK}, bf16 inputs as in "
             "benchmarks/kernels.py, float16 chunk tensors, tf32. Each time cell: two runs, the variants alternating.")
    print("\n" + table + "\n\n" + notes)
    if a.record:
        append_section("Intra forward launch variants: U0 / W fused or split, register cap", table, notes)


if __name__ == "__main__":
    main()
