"""Kernel benchmark: GDN and KDA forward and forward+backward on the GPU, ours (Triton) side by side with FLA,
SDPA causal flash attention and our chunked PyTorch path, at H=16, D=128, bf16.

    python benchmarks/kernels.py [--record [DIR]] [--quick | --shapes 1x32768 ...] [--ops kda] [--budget 0.4]
                                 [--torch-path-max-tokens 16384]

One op took about 3.5 minutes on an H100 with --budget 0.4 --torch-path-max-tokens 16384 (most of it FLA's
autotuning at each new shape and our slow torch path); both ops took about 5.5 minutes on an H200 with --budget 0.15
--torch-path-max-tokens 0, which fits one 10-minute device call.

Times are medians of CUDA-event timings after warm-up. Peak memory is the allocator's peak during one
forward+backward, above what the inputs already hold. The device's ceilings (a large device copy, a large bf16
matmul) are measured in the same run, and our forward+backward is reported as achieved TFLOP/s and GB/s against a
simple model of the chunked algorithm's work (see `work_model`), so the distance to the roofline is visible.
FLA's GDN backward refuses Triton 3.6 on Hopper; such cells say why instead of a time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import failure_cell, record_arg, write_record  # noqa: E402

import kernels  # noqa: E402

H, D, CHUNK = 16, 128, 64
SHAPES = [(8, 2048), (4, 4096), (2, 8192), (1, 16384), (1, 32768)]


def bench(fn, budget_s: float = 1.0, warmup: int = 3, min_reps: int = 5, max_reps: int = 50) -> float:
    """Median milliseconds of fn() over CUDA events, after warm-up; the rep count fits the time budget."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    reps = int(min(max_reps, max(min_reps, budget_s * 1e3 / max(start.elapsed_time(end), 1e-3))))
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def ceilings() -> tuple[float, float]:
    """Measured device copy bandwidth (GB/s, read + write) and bf16 matmul rate (TFLOP/s)."""
    src = torch.randn(1 << 29, device="cuda", dtype=torch.bfloat16)  # 1 GiB
    dst = torch.empty_like(src)
    ms = bench(lambda: dst.copy_(src))
    copy_gbs = 2 * src.numel() * src.element_size() / ms / 1e6
    src = dst = None
    n = 8192
    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    ms = bench(lambda: a @ b)
    return copy_gbs, 2 * n**3 / ms / 1e9


def work_model(op: str, B: int, T: int) -> tuple[float, float]:
    """(FLOPs, bytes) of one forward+backward of the chunked algorithm: a model, not a count of what runs.

    Forward per token and head: decayed q.k and k.k scores 4CK, the triangular solve C(K+V), W S, q S and the state
    update 6KV, the intra-chunk output 2CV; backward ~2x forward. Bytes: bf16 q, k, v, beta, fp32 gates read and o
    written once forward; inputs and do read and every gradient written once backward.
    """
    C, K, V = CHUNK, D, D
    fwd_flops = 4 * C * K + C * (K + V) + 6 * K * V + 2 * C * V
    g_bytes = 4 * (K if op == "kda" else 1)
    fwd_bytes = 2 * (2 * K + V) + g_bytes + 2 + 2 * V
    bwd_bytes = (2 * (2 * K + 2 * V) + g_bytes + 2) + (2 * (2 * K + V) + g_bytes + 2)
    tokens = B * T * H
    return 3 * fwd_flops * tokens, (fwd_bytes + bwd_bytes) * tokens


def make_inputs(op: str, B: int, T: int, seed: int) -> dict:
    gen = torch.Generator(device="cuda").manual_seed(seed)

    def randn(*shape, dtype=torch.bfloat16):
        return torch.randn(*shape, device="cuda", dtype=dtype, generator=gen)

    gate_shape = (B, T, H, D) if op == "kda" else (B, T, H)
    # KDA's per-channel gates are kept mild (about -0.05 per step, like a trained KDA layer) so FLA's kernels,
    # which factor the decay within sub-chunks, stay in range; GDN uses logsigmoid gates.
    g = F.logsigmoid(randn(*gate_shape, dtype=torch.float32)) / (16 if op == "kda" else 1)
    x = {"q": randn(B, T, H, D), "k": randn(B, T, H, D), "v": randn(B, T, H, D), "g": g,
         "beta": torch.sigmoid(randn(B, T, H))}
    return {n: t.requires_grad_() for n, t in x.items()}


def ours(op: str, backend: str):
    fn = kernels.chunk_kda if op == "kda" else kernels.chunk_gated_delta_rule

    def call(x):
        kernels.set_backend(backend)
        return fn(x["q"], x["k"], x["v"], x["g"], x["beta"], use_qk_l2norm_in_kernel=True)[0]
    return call


def fla(op: str):
    try:
        if op == "kda":
            from fla.ops.kda import chunk_kda as fn
        else:
            from fla.ops.gated_delta_rule import chunk_gated_delta_rule as fn
    except Exception as e:  # noqa: BLE001 - not installed or broken: the column says why
        return None, f"FLA not importable ({type(e).__name__})"

    def call(x):
        return fn(x["q"], x["k"], x["v"], x["g"], x["beta"], use_qk_l2norm_in_kernel=True)[0]
    return call, None


def sdpa(x):
    q, k, v = (t.transpose(1, 2) for t in (x["q"], x["k"], x["v"]))  # (B, H, T, D)
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


BUDGET_S = 1.0


def host_ms(fn, calls: int = 20, sync=torch.cuda.synchronize) -> float:
    """Milliseconds the host takes to issue one fn() (no sync between calls): where this reaches the CUDA-event time,
    the GPU waits on the host and the kernels' speed does not show in that time."""
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - start
    sync()
    return elapsed / calls * 1e3


def measure(call, x: dict) -> dict:
    """fwd ms (no grad), host ms to issue one fwd, fwd+bwd ms, peak memory GiB of fwd+bwd; errors become the
    cell's text."""
    out = {}
    try:
        with torch.no_grad():
            out["fwd"] = bench(lambda: call(x), BUDGET_S)
            out["host"] = host_ms(lambda: call(x))
    except Exception as e:  # noqa: BLE001
        out["fwd"] = failure_cell(e)
    do = torch.randn_like(x["v"]) if call is not sdpa else torch.randn_like(x["v"]).transpose(1, 2)

    def step():
        for t in x.values():
            t.grad = None
        call(x).backward(do)
    try:
        out["fwdbwd"] = bench(step, BUDGET_S)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        out["mem"] = (torch.cuda.max_memory_allocated() - base) / 2**30
    except Exception as e:  # noqa: BLE001
        out["fwdbwd"] = failure_cell(e)
    torch.cuda.empty_cache()
    return out


def agreement(op: str, x: dict, fla_call) -> str:
    """Largest error ratio between our and FLA's o and gradients (what FLA can run)."""
    do = torch.randn_like(x["v"])
    got = {}
    for name, call in (("ours", ours(op, "triton")), ("fla", fla_call)):
        for t in x.values():
            t.grad = None
        o = call(x)
        got[name] = {"o": o.detach().float()}
        try:
            o.backward(do)
            got[name].update({f"d{n}": t.grad.float() for n, t in x.items()})
        except Exception:  # noqa: BLE001 - FLA's backward may refuse this Triton: compare the forward only
            pass
    names = [n for n in got["fla"] if n in got["ours"]]
    worst = max(names, key=lambda n: _ratio(got["ours"][n], got["fla"][n]))
    return f"{_ratio(got['ours'][worst], got['fla'][worst]):.0e} ({worst}; {'o+grads' if len(names) > 1 else 'o only'})"


def _ratio(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item()


def fmt(v) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def shape_arg(text: str) -> tuple[int, int]:
    """'4x4096' -> (4, 4096), for --shapes."""
    error = argparse.ArgumentTypeError(f"shape must be BxT with positive integers, e.g. 4x4096, got {text!r}")
    try:
        B, T = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise error from None
    if B < 1 or T < 1:
        raise error
    return B, T


def ratio(a, b) -> str:
    """a / b to two decimals, or three where two would print 1.00x (which side of a tie it is); '-' without both."""
    if not (isinstance(a, float) and isinstance(b, float)):
        return "-"
    r = a / b
    return f"{r:.3f}x" if f"{r:.2f}" == "1.00" else f"{r:.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    record_arg(ap)
    ap.add_argument("--quick", action="store_true", help="first two shapes only")
    ap.add_argument("--shapes", nargs="+", type=shape_arg, metavar="BxT",
                    help=f"these (B, T) only, e.g. 1x32768 (default: all of {' '.join(f'{b}x{t}' for b, t in SHAPES)})")
    ap.add_argument("--ops", nargs="+", default=["gated_delta_rule", "kda"], choices=["gated_delta_rule", "kda"],
                    help="one op per device call fits its 10 minutes (FLA autotunes at every new shape)")
    ap.add_argument("--torch-path-max-tokens", type=int, default=1 << 30,
                    help="time our chunked PyTorch path only where B*T is at most this (it is slow; saves device time)")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timed repetitions per cell")
    a = ap.parse_args()
    global BUDGET_S
    BUDGET_S = a.budget
    copy_gbs, mm_tflops = ceilings()
    print(f"ceilings: copy {copy_gbs:.0f} GB/s, bf16 matmul {mm_tflops:.0f} TFLOP/s", flush=True)

    head = ("| op | B | T | ours fwd ms | FLA fwd ms | FLA/ours fwd | host ms per fwd ours / FLA | ours fwd+bwd ms "
            "| FLA fwd+bwd ms | FLA/ours fwd+bwd | SDPA fwd+bwd ms | SDPA/ours | torch-path fwd+bwd ms "
            "| peak GiB ours / FLA / SDPA | ours TFLOP/s, GB/s | ours vs FLA (err ratio) |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for op in a.ops:
        fla_call, fla_why = fla(op)
        for B, T in a.shapes or (SHAPES[:2] if a.quick else SHAPES):
            x = make_inputs(op, B, T, seed=B * T)
            r_ours = measure(ours(op, "triton"), x)
            r_fla = measure(fla_call, x) if fla_call else {"fwd": fla_why, "fwdbwd": fla_why}
            r_sdpa = measure(sdpa, x)
            r_torch = measure(ours(op, "torch"), x) if a.torch_path_max_tokens >= B * T else {"fwdbwd": "not run"}
            agree = agreement(op, x, fla_call) if fla_call else "-"
            flops, nbytes = work_model(op, B, T)
            perf = "-"
            if isinstance(r_ours.get("fwdbwd"), float):
                ms = r_ours["fwdbwd"]
                perf = (f"{flops / ms / 1e9:.0f} ({100 * flops / ms / 1e9 / mm_tflops:.0f}%), "
                        f"{nbytes / ms / 1e6:.0f} ({100 * nbytes / ms / 1e6 / copy_gbs:.0f}%)")
            mem = " / ".join(fmt(r.get("mem", "-")) for r in (r_ours, r_fla, r_sdpa))
            name = "GDN" if op == "gated_delta_rule" else "KDA"
            fb = r_ours["fwdbwd"]
            row = (f"| {name} | {B} | {T} | {fmt(r_ours['fwd'])} | {fmt(r_fla['fwd'])} "
                   f"| {ratio(r_fla['fwd'], r_ours['fwd'])} "
                   f"| {fmt(r_ours.get('host', '-'))} / {fmt(r_fla.get('host', '-'))} "
                   f"| {fmt(fb)} | {fmt(r_fla['fwdbwd'])} "
                   f"| {ratio(r_fla['fwdbwd'], fb)} | {fmt(r_sdpa['fwdbwd'])} | {ratio(r_sdpa['fwdbwd'], fb)} "
                   f"| {fmt(r_torch['fwdbwd'])} | {mem} | {perf} | {agree} |")
            print(row, flush=True)
            rows.append(row)
            del x
            torch.cuda.empty_cache()
    table = "\n".join(rows)
    notes = (f"H={H}, D={D}, bf16 q/k/v/beta, fp32 gates (GDN logsigmoid; KDA logsigmoid/16 per channel), "
             f"use_qk_l2norm_in_kernel=True, no initial state. Median of CUDA-event timings after 3 warm-up calls; "
             f"fwd under no_grad. 'host ms per fwd': the host's time to issue one forward (20 calls, no sync "
             f"between); where it reaches the fwd time the GPU waits on the host. Ceilings measured in this run: "
             f"device copy {copy_gbs:.0f} GB/s (read+write), "
             f"bf16 matmul {mm_tflops:.0f} TFLOP/s. Ours = kernels backend 'triton'; torch-path = backend 'torch' "
             f"(the chunked PyTorch path; 'not run' where B*T > {a.torch_path_max_tokens}, to fit the device call's "
             f"time). TFLOP/s and GB/s use the work model in benchmarks/kernels.py "
             f"(work_model), with the % of the measured ceilings. 'ours vs FLA' is the largest RMSE/RMS between our "
             f"and FLA's o and gradients (o only where FLA's backward fails).")
    print("\n" + table + "\n\n" + notes)
    if a.record:
        write_record("kernels", "Kernels: GDN and KDA, ours (Triton) vs FLA vs SDPA vs torch path", table, notes,
                     a.record)


if __name__ == "__main__":
    main()
