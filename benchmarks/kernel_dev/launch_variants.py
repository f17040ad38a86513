"""A/B of the GDN / KDA forward's launch choices on the GPU, at the kernel benchmark's shapes. A variant is a
'+'-joined list of settings, each a field of the Triton path's `kernels.LaunchConfig`:

    wu | fused     U0 and W by their own launch after the intra forward (`split_wu`) or not
    r<N>           a register cap for the intra forward kernel (`maxnreg`), e.g. r168
    out | inwalk   o by a chunk-parallel launch after the walk (`split_output`) or in the walk
    auto           nothing set: the defaults (heuristics included)

    python benchmarks/kernel_dev/launch_variants.py [--ops gated_delta_rule kda] [--shapes 1x32768 ...]
                                         [--variants auto out inwalk wu+out ...] [--record [DIR]]

Per op, shape and variant: the intra forward alone (both launches with wu), the whole op forward and
forward+backward (ms, medians of CUDA-event timings; the variants alternate, twice each, so drift shows), and the
largest RMSE / RMS of o against the first variant's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import kernel_benchmark, record_arg, stream_table, write_record  # noqa: E402

import kernels  # noqa: E402
from kernels import DEFAULT_LAUNCH, LaunchConfig  # noqa: E402
from kernels.delta_rule import intra_wy_fwd  # noqa: E402
from kernels.utils.l2norm_triton import l2norm_triton  # noqa: E402
from kernels.utils.triton_support import dot_precision  # noqa: E402

bench_kernels = kernel_benchmark()


def settings(variant: str) -> LaunchConfig:
    """'wu+r168+out' -> LaunchConfig(split_wu=True, maxnreg=168, split_output=True); 'auto' -> the defaults."""
    out: dict[str, object] = {}
    for part in variant.split("+"):
        if part in ("wu", "fused"):
            out["split_wu"] = part == "wu"
        elif part in ("out", "inwalk"):
            out["split_output"] = part == "out"
        elif part.startswith("r") and part[1:].isdigit():
            out["maxnreg"] = int(part[1:])
        elif part != "auto":
            raise argparse.ArgumentTypeError(f"variant part {part!r} is not one of wu, fused, r<N> (e.g. r168), out, "
                                             f"inwalk, auto (in {variant!r})")
    return LaunchConfig(**{**DEFAULT_LAUNCH.__dict__, **out})


def ours(op: str, launch: LaunchConfig):
    """The op on the Triton backend with these launch choices (as `benchmarks/kernels.py: ours` otherwise)."""
    fn = kernels.chunk_kda if op == "kda" else kernels.chunk_gated_delta_rule

    def call(x):
        kernels.set_backend("triton")
        return fn(x["q"], x["k"], x["v"], x["g"], x["beta"], use_qk_l2norm_in_kernel=True, launch=launch)[0]
    return call


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt().clamp_min(1e-30)).item()


def measure(op: str, B: int, T: int, variants: list[str], budget: float) -> list[list[str]]:
    x = bench_kernels.make_inputs(op, B, T, seed=B * T)
    do = torch.randn_like(x["v"])
    with torch.no_grad():  # the intra forward's inputs as the op passes them: q, k L2-normalised (q scaled)
        q = l2norm_triton(x["q"], x["q"].shape[-1] ** -0.5)
        k = l2norm_triton(x["k"])
        g = x["g"] if op == "kda" else x["g"].unsqueeze(-1)
        args = (q, k, x["v"], g, x["beta"], bench_kernels.CHUNK, dot_precision(x["q"].dtype))

    def steps(launch: LaunchConfig):
        call = ours(op, launch)

        def intra():
            return intra_wy_fwd.intra_chunk_fwd(*args, compact=True, launch=launch)

        def fwd():
            with torch.no_grad():
                return call(x)

        def fwd_bwd():
            for t in x.values():
                t.grad = None
            call(x).backward(do)
        return {"intra": intra, "fwd": fwd, "fwd+bwd": fwd_bwd}

    runs = {v: steps(settings(v)) for v in variants}
    outs = {v: runs[v]["fwd"]() for v in variants}
    errs = {v: rel_err(outs[v], outs[variants[0]]) for v in variants}
    del outs
    times = {}
    for _ in range(2):
        for v in variants:
            for name, fn in runs[v].items():
                times.setdefault((name, v), []).append(bench_kernels.bench(fn, budget_s=budget))
    op_name = "GDN" if op == "gated_delta_rule" else "KDA"
    return [[op_name, str(B), str(T), v, *(" / ".join(f"{t:.3f}" for t in times[(name, v)])
                                         for name in ("intra", "fwd", "fwd+bwd")), f"{errs[v]:.1e}"]
            for v in variants]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", nargs="+", default=["gated_delta_rule", "kda"], choices=["gated_delta_rule", "kda"])
    ap.add_argument("--shapes", nargs="+", type=bench_kernels.shape_arg, metavar="BxT",
                    help="these (B, T) only (default: the kernel benchmark's five)")
    ap.add_argument("--variants", nargs="+", default=["auto", "out", "inwalk"],
                    help="'+'-joined settings: wu | fused, r<N>, out | inwalk, auto (see above)")
    ap.add_argument("--budget", type=float, default=0.1, help="seconds of timed repetitions per cell")
    record_arg(ap)
    a = ap.parse_args()
    for v in a.variants:
        try:
            settings(v)
        except argparse.ArgumentTypeError as e:
            ap.error(str(e))
    if not torch.cuda.is_available():
        sys.exit("launch_variants: needs a CUDA GPU (it times kernels)")
    head = ["op", "B", "T", "variant", "intra fwd ms", "op fwd ms", "op fwd+bwd ms", f"o vs {a.variants[0]}"]

    def rows():
        for op in a.ops:
            for B, T in a.shapes or bench_kernels.SHAPES:
                yield from measure(op, B, T, a.variants, a.budget)
                torch.cuda.empty_cache()
    table = stream_table(head, rows())
    notes = (f"H={bench_kernels.H}, D={bench_kernels.D}, C={bench_kernels.CHUNK}, bf16 inputs as in "
             "benchmarks/kernels.py (tf32, float16 chunk tensors). Each time cell: two runs, the variants alternating.")
    print("\n" + table + "\n\n" + notes)
    if a.record:
        write_record("launch-variants", "Forward launch variants (U0 / W split, register cap, output after the walk)",
                     table, notes, a.record)


if __name__ == "__main__":
    main()
