"""Where the time goes in our Triton-backend GDN/KDA forward+backward: the top CUDA kernels by total time.

    python benchmarks/kernel_dev/kernels_profile.py [--op kda] [--B 4] [--T 4096] [--impl ours|fla] [--fwd-only]

--impl fla profiles FLA's kernels at the same shape (fla-core installed), to compare kernel by kernel.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # first: `kernels` is the package
from common import kernel_benchmark  # noqa: E402

bench_kernels = kernel_benchmark()
make_inputs, ours, fla = bench_kernels.make_inputs, bench_kernels.ours, bench_kernels.fla


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--op", default="kda")
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--T", type=int, default=4096)
    ap.add_argument("--impl", choices=("ours", "fla"), default="ours")
    ap.add_argument("--fwd-only", action="store_true", help="forward under no_grad")
    a = ap.parse_args()
    x = make_inputs(a.op, a.B, a.T, seed=0)
    if a.impl == "ours":
        call = ours(a.op, "triton")
    else:
        call, why = fla(a.op)
        if call is None:
            sys.exit(f"kernels_profile: --impl fla: {why}")
    do = torch.randn_like(x["v"])

    def step():
        for t in x.values():
            t.grad = None  # else every backward adds into the last one's gradients: extra kernels in the table
        if a.fwd_only:
            with torch.no_grad():
                call(x)
        else:
            call(x).backward(do)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            step()
        torch.cuda.synchronize()
    print(f"{a.impl} {a.op} B={a.B} T={a.T} {'fwd' if a.fwd_only else 'fwd+bwd'}, 3 calls:")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70))


if __name__ == "__main__":
    main()
