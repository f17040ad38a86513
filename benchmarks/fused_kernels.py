"""The fused elementwise kernels (RMSNorm: kernels/rms_norm/triton.py; short conv + SiLU:
kernels/short_conv/triton.py; RoPE: kernels/rope/triton.py; decay: kernels/mamba_decay/triton.py; SwiGLU:
kernels/swiglu/triton.py) against their eager forms, alone and in whole steps.

    python benchmarks/fused_kernels.py [--recipes kda_3to1 full_attention] [--size small] [--steps 10] [--record [DIR]]

op     forward + backward of one norm (plain, and gated as the mixers' output norm), one short conv (unpacked
       rows, and one packed row of documents), one RoPE (q of a packed row), one kda decay and one SwiGLU MLP at
       the shapes a step has; bf16 input, float32 weight, as under autocast. `triton.testing.do_bench` per call
       (L2 flushed between calls), and back to back (20 calls in a row, timed together), in ms
step   the bare training step of e2e.py (packed batches, forward, backward, fused AdamW, bf16 autocast) with each
       switch of common.FUSED_SWITCHES and model.attention.packed=varlen off, each alone, and all, in tokens/s
On the CPU (a seconds-long check, under TRITON_INTERPRET=1) --size tiny and small op shapes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import FUSED_SWITCHES, markdown_table as table, record_arg, write_record  # noqa: E402

# (rows, width, gated): rows of one small step (32 x 512) and of the scale shape (8 x 4096)
OP_SHAPES = {"cuda": [(16384, 256, None), (16384 * 2, 64, "sigmoid"), (32768, 1024, None), (32768 * 8, 128, "silu")],
             "cpu": [(64, 32, None), (128, 16, "sigmoid")]}
# (B, T, channels, packed): one q projection of a small step, and of the scale shape
CONV_SHAPES = {"cuda": [(32, 512, 256, False), (1, 32 * 512, 256, True), (8, 4096, 1024, False),
                        (1, 8 * 4096, 1024, True)],
               "cpu": [(2, 24, 16, False), (1, 48, 16, True)]}
# (B, T, heads, head dim): q of one small step, and of a layer at the scale dims
ROPE_SHAPES = {"cuda": [(1, 32 * 512, 4, 64), (1, 8 * 4096, 8, 128)], "cpu": [(1, 48, 2, 16)]}
# (B, T, heads, head dim): a kda layer's decay in one small step, and at the scale dims
DECAY_SHAPES = {"cuda": [(32, 512, 4, 64), (8, 4096, 8, 128)], "cpu": [(1, 40, 2, 16)]}
# (rows, d_model, hidden): one small step's MLP, and one at the scale dims (matmuls included)
MLP_SHAPES = {"cuda": [(16384, 256, 704), (32768, 1024, 2816)], "cpu": [(40, 16, 32)]}
SWITCHES = {**FUSED_SWITCHES, "varlen attention": "model.attention.packed=varlen"}
SETTINGS = {"eager": [], **{name: [switch] for name, switch in SWITCHES.items()}, "all": list(SWITCHES.values())}
"""Overrides of each step setting."""


def op_rows(device: str) -> list[list[str]]:
    return norm_rows(device) + conv_rows(device) + rope_rows(device) + decay_rows(device) + mlp_rows(device)


def ab_row(op: str, size: str, call_for, device: str) -> list[str]:
    """One op's row: call_for(fused) -> a forward + backward callable; eager and fused, per call and back to back."""
    cells = [f"{ms:.3f}" for fused in (False, True) for ms in timings(call_for(fused), device)]
    return [op, size, *cells, f"{float(cells[0]) / float(cells[2]):.2f}x"]


def mlp_rows(device: str) -> list[list[str]]:
    import torch

    from hybrid.mlp import SwiGLU

    rows = []
    for R, D, hidden in MLP_SHAPES[device]:
        x = torch.randn(R, D, device=device, dtype=torch.bfloat16, requires_grad=True)
        dy = torch.randn(R, D, device=device, dtype=torch.bfloat16)

        def call_for(fused, x=x, dy=dy, D=D, hidden=hidden):
            mlp = SwiGLU(D, hidden).to(device, torch.bfloat16)
            mlp.fused = fused
            return lambda: mlp(x).backward(dy)

        rows.append(ab_row("swiglu mlp", f"{R} x {D} -> {hidden}", call_for, device))
    return rows


def decay_rows(device: str) -> list[list[str]]:
    import torch

    from hybrid.linear.gates import a_log_param, dt_bias_param, mamba_decay

    rows = []
    for B, T, H, K in DECAY_SHAPES[device]:
        a = torch.randn(B, T, H, K, device=device, dtype=torch.bfloat16, requires_grad=True)
        dg = torch.randn(B, T, H, K, device=device)
        A_log, dt_bias = a_log_param(H).to(device)[:, None], dt_bias_param(H * K).to(device).view(H, K)

        def call_for(fused, a=a, dg=dg, A_log=A_log, dt_bias=dt_bias):
            return lambda: mamba_decay(a, A_log, dt_bias, fused).backward(dg)

        rows.append(ab_row("kda decay", f"{B * T} x {H} x {K}", call_for, device))
    return rows


def rope_rows(device: str) -> list[list[str]]:
    import torch

    from hybrid.attention.rope import RotaryEmbedding

    rows = []
    for B, T, H, D in ROPE_SHAPES[device]:
        x = torch.randn(B, T, H, D, device=device, dtype=torch.bfloat16, requires_grad=True)
        dy = torch.randn(B, T, H, D, device=device, dtype=torch.bfloat16)
        pos = torch.arange(T, device=device) % 64  # 64-token documents

        def call_for(fused, x=x, dy=dy, pos=pos, D=D):
            rope = RotaryEmbedding(D)
            rope.fused = fused
            return lambda: rope(x, pos).backward(dy)

        rows.append(ab_row("rope", f"{B * T} x {H} x {D}", call_for, device))
    return rows


def conv_rows(device: str) -> list[list[str]]:
    import torch

    from hybrid.linear.short_conv import ShortConv

    rows = []
    for B, T, D, packed in CONV_SHAPES[device]:
        x = torch.randn(B, T, D, device=device, dtype=torch.bfloat16, requires_grad=True)
        dy = torch.randn(B, T, D, device=device, dtype=torch.bfloat16)
        cu = torch.arange(0, T + 1, 64 if device == "cuda" else 8, device=device) if packed else None  # 64-token docs

        def call_for(fused, x=x, dy=dy, cu=cu, D=D):
            conv = ShortConv(D, 4, "q").to(device)
            conv.fused = fused
            return lambda: conv(x, cu_seqlens=cu).backward(dy)

        rows.append(ab_row(f"short conv{' packed' if packed else ''}", f"{B * T} x {D}", call_for, device))
    return rows


def norm_rows(device: str) -> list[list[str]]:
    import torch

    from hybrid.norm import GatedRMSNorm, RMSNorm

    rows = []
    for R, D, act in OP_SHAPES[device]:
        x = torch.randn(R, D, device=device, dtype=torch.bfloat16, requires_grad=True)
        g = torch.randn(R, D, device=device, dtype=torch.bfloat16, requires_grad=True) if act else None
        dy = torch.randn(R, D, device=device, dtype=torch.bfloat16)

        def call_for(fused, x=x, g=g, dy=dy, act=act, D=D):
            norm = (RMSNorm(D) if act is None else GatedRMSNorm(D, act=act)).to(device)
            norm.fused = fused
            return lambda: (norm(x) if act is None else norm(x, g)).backward(dy)

        rows.append(ab_row(f"{'gated ' + act if act else 'plain'}", f"{R} x {D}", call_for, device))
    return rows


def timings(fn, device: str) -> tuple[float, float]:
    """(ms per call, L2 flushed; ms per call of 20 back to back)."""
    import time


    if device == "cuda":
        from triton.testing import do_bench

        per_call = do_bench(fn, warmup=25, rep=100)
        back = do_bench(lambda: [fn() for _ in range(20)], warmup=5, rep=100) / 20
        return per_call, back
    fn()
    start = time.perf_counter()
    for _ in range(3):
        fn()
    per = (time.perf_counter() - start) / 3 * 1e3
    return per, per


def step_rows(recipes: list[str], size: str, steps: int, device: str) -> list[list[str]]:
    from run.load import load_run_config  # first: it imports the data package, which benchmarks/data.py would shadow

    import e2e  # (its import puts benchmarks/ first on sys.path)

    rows = []
    for recipe in recipes:
        tps, peak = {}, {}
        for name, overrides in SETTINGS.items():
            cfg = load_run_config([f"recipe={recipe}", f"size={size}", *overrides]
                                  + (["trainer.accelerator=cpu"] if device == "cpu" else []))
            r = e2e.bare_step(cfg, steps, 3, device)
            e2e.cleanup()
            tps[name], peak[name] = r["tokens_per_s"], r["peak"]
        print(f"{recipe}: " + ", ".join(f"{n} {tps[n] / 1e3:.1f}k" for n in SETTINGS), file=sys.stderr, flush=True)
        rows.append([recipe, f"{cfg.data.batch_size} x {cfg.data.seq_len}",
                     *[f"{tps[n] / 1e3:.1f}k" for n in SETTINGS], f"{tps['all'] / tps['eager']:.2f}x",
                     *["-" if peak[n] is None else f"{peak[n]:.2f}" for n in ("eager", "all")]])
    return rows


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="+", default=["kda_3to1", "full_attention"])
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=10, help="timed bare steps per (recipe, setting)")
    ap.add_argument("--parts", nargs="+", choices=["op", "step"], default=["op", "step"])
    record_arg(ap)
    a = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        import kernels
        from kernels.utils.triton_support import interpreting

        if not interpreting():
            print("error: on the CPU the fused kernels run only under TRITON_INTERPRET=1", file=sys.stderr)
            return 2
        kernels.set_backend("triton")  # a check that both paths run, not a timing
    out = []
    if "op" in a.parts:
        t = table(["op", "rows x width (x head dim)", "eager ms/call", "eager ms back to back", "fused ms/call",
                   "fused ms back to back", "speed-up per call"], op_rows(device))
        print(t, flush=True)
        out.append("Forward + backward of one norm, short conv (width 4), RoPE, decay or MLP, bf16 input:\n\n" + t)
    if "step" in a.parts:
        t = table(["recipe", "B x T", *[f"{n} tokens/s" for n in SETTINGS], "all / eager", "peak GiB eager",
                   "peak GiB all"], step_rows(a.recipes, a.size, a.steps, device))
        print(t, flush=True)
        out.append(f"Bare training step at size={a.size} (benchmarks/e2e.py's), {a.steps} timed steps:\n\n" + t)
    if a.record:
        write_record("fused-kernels", "Fused RMSNorm, short-conv, RoPE, decay and SwiGLU kernels vs eager",
                     "\n\n".join(out), folder=a.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
