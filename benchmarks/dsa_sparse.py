"""dsa's two ways to attend its top-k selection, one layer side by side: `dense` (SDPA over every key under the
top-k mask) against `gather` (each query's top-k keys gathered), forward + backward, bf16 autocast on CUDA.

    python benchmarks/dsa_sparse.py [--shapes 8x1024 4x4096 1x16384] [--dims base] [--topk 128] [--steps 10]
                                    [--warmup 3] [--record [DIR]]

dims: the size preset's attention (base: d_model 512, 8 heads x 64, topk 128, indexer 4 x 32); --dims tiny and a
short shape make the CPU run of the test. Per row: milliseconds per forward+backward of the layer (synchronised, after
warm-up), the peak memory of that call, and gather's speed-up over dense. Decides attention.sparse_impl's default.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import failure_cell, kernel_benchmark, record_arg, stream_table, timed_steps, write_record  # noqa: E402

DIMS = {
    "base": {"d_model": 512, "n_heads": 8, "head_dim": 64, "topk": 128},
    "tiny": {"d_model": 32, "n_heads": 2, "head_dim": 16, "topk": 8},
}
HEAD = ["B x T", "dense ms", "dense peak GiB", "gather ms", "gather peak GiB", "gather vs dense"]


def layer(impl: str, dims: dict, topk: int, device: str):
    import torch

    import hybrid.attention  # noqa: F401  (registers the mixers)
    from hybrid.attention.dsa import DeepSeekSparseAttention
    from hybrid.config import AttentionConfig, ModelConfig

    cfg = ModelConfig(d_model=dims["d_model"], n_heads=dims["n_heads"], head_dim=dims["head_dim"],
                      attention=AttentionConfig(type="dsa", topk=topk, sparse_impl=impl))
    torch.manual_seed(0)
    return DeepSeekSparseAttention(cfg, layer_idx=0).to(device)


def measure(impl: str, B: int, T: int, dims: dict, topk: int, a, device: str) -> tuple[str, str]:
    import torch

    try:
        m = layer(impl, dims, topk, device)
        x = torch.randn(B, T, dims["d_model"], device=device, requires_grad=True)

        def step(_) -> None:
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                y, _ = m(x)
            y.float().square().mean().backward()

        seconds, peak = timed_steps(step, [None] * a.steps, a.warmup, device)
        return f"{seconds * 1e3:.2f}", f"{peak:.2f}" if peak is not None else "-"
    except Exception as e:  # noqa: BLE001 - a failing row says why and the next one starts clean
        return failure_cell(e), "-"


def rows(a, device: str):
    dims = DIMS[a.dims]
    topk = a.topk or dims["topk"]
    for B, T in a.shapes:
        dense, dense_peak = measure("dense", B, T, dims, topk, a, device)
        gather, gather_peak = measure("gather", B, T, dims, topk, a, device)
        try:
            vs = f"{float(dense) / float(gather):.2f}x"
        except ValueError:
            vs = "-"
        yield [f"{B} x {T}", dense, dense_peak, gather, gather_peak, vs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", type=kernel_benchmark().shape_arg, metavar="BxT",
                    default=[(8, 1024), (4, 4096), (1, 16384)])
    ap.add_argument("--dims", choices=sorted(DIMS), default="base")
    ap.add_argument("--topk", type=int, default=None, help="default: the dims' topk")
    ap.add_argument("--steps", type=int, default=10, help="timed forward+backward calls per row")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when there is one")
    record_arg(ap)
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 0 or (a.topk is not None and a.topk < 1):
        ap.error(f"--steps must be >= 1, --warmup >= 0 and --topk >= 1; got {a.steps}, {a.warmup}, {a.topk}")
    import torch

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    table = stream_table(HEAD, rows(a, device))
    dims = DIMS[a.dims]
    notes = (f"One dsa layer, d_model {dims['d_model']}, {dims['n_heads']} heads x {dims['head_dim']}, topk "
             f"{a.topk or dims['topk']}, {'bf16 autocast' if device == 'cuda' else 'fp32 (CPU)'}; forward + backward "
             f"of the layer, {a.steps} timed calls after {a.warmup} warm-up; peak: torch's allocator over the call.")
    print("\n" + table + "\n\n" + notes)
    if a.record:
        write_record("dsa-sparse", "dsa: dense top-k mask against gathered top-k keys", table, notes, a.record)


if __name__ == "__main__":
    main()
