"""Where the intra-chunk forward's time goes: its kernels timed as they are, and with one step cut out at a time.

    python benchmarks/kernel_dev/intra_fwd_ablation.py [--ops gated_delta_rule kda] [--shapes 8x2048 1x32768]
                                                       [--record [DIR]]

Each variant is a copy of `kernels/delta_rule/intra_wy_fwd.py` (and `delta_rule/intra_wy_u0_w.py`, the U0 / W launch)
with a piece
of source replaced, loaded as a module of its own. Its outputs are wrong by design; only its time means something.
The difference from 'as is' is what that step costs inside the whole launch (occupancy and overlap included), which
is not the step's time on its own. A patch that no longer matches the source stops the script with the text it
looked for, so the variants cannot silently drift from the kernels (tests/test_benchmark_cli.py loads them all).

The inputs are the ones the op passes without a backward: GDN bf16 q, k as they come, L2-normalised in the kernel
(`norm_q_scale`); KDA q, k from the L2 norm in float16. H=16, K=V=128, C=64, bf16 v, float32 gates. Timing:
back-to-back calls between CUDA events, the median of 5 groups of --reps calls, every variant twice, alternating.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # first: `kernels` is the package
from common import kernel_benchmark, record_arg, stream_table, write_record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FWD, WU = "kernels/delta_rule/intra_wy_fwd.py", "kernels/delta_rule/intra_wy_u0_w.py"
H, D, C = 16, 128, 64
SHAPES = [(8, 2048), (1, 32768)]

# variant -> (ops it applies to, [(file, source text, replacement)]); each text must occur exactly once
VARIANTS: dict[str, tuple[tuple[str, ...], list[tuple[str, str, str]]]] = {
    "as is": (("gated_delta_rule", "kda"), []),
    "no solve": (("gated_delta_rule", "kda"), [
        (FWD, "Ainv = _block_inverse(AINV, rc, C, PREC)", "tl.debug_barrier()\n    Ainv = tl.load(AINV + cc_off)")]),
    "no decayed q / k stores": (("gated_delta_rule",), [
        (FWD, "        tl.store(KEND + rc[:, None] * K", "        if False: tl.store(KEND + rc[:, None] * K"),
        (FWD, "        tl.store(QDEC + rc[:, None] * K", "        if False: tl.store(QDEC + rc[:, None] * K")]),
    "no decayed q / k stores (KDA)": (("kda",), [
        (FWD, "            tl.store(QDEC + ck_off,", "            if False: tl.store(QDEC + ck_off,"),
        (FWD, "            tl.store(KEND + ck_off,", "            if False: tl.store(KEND + ck_off,")]),
    "no qk scores": (("gated_delta_rule",), [(FWD, "        qk += _scores(q, k, PREC)\n", "")]),
    "no U0 / W launch": (("gated_delta_rule", "kda"), [
        (FWD, "        intra_wu(k, v, g, beta,", "        if False: intra_wu(k, v, g, beta,")]),
}


def patched_modules(name: str, patches: list[tuple[str, str, str]]) -> ModuleType:
    """The intra forward module with `patches` applied (its U0 / W launch patched too), loaded from a temp dir."""
    sources = {path: (ROOT / path).read_text() for path in (FWD, WU)}
    for path, old, new in patches:
        if sources[path].count(old) != 1:
            raise SystemExit(f"intra_fwd_ablation: variant {name!r} expects {old!r} once in {path}; "
                             f"found it {sources[path].count(old)} times: update VARIANTS to the kernel's source")
        sources[path] = sources[path].replace(old, new)
    tag = "".join(ch if ch.isalnum() else "_" for ch in name)
    wu_name, fwd_name = f"ablation_wu_{tag}", f"ablation_fwd_{tag}"
    sources[FWD] = sources[FWD].replace("from kernels.delta_rule.intra_wy_u0_w import", f"from {wu_name} import")
    folder = Path(tempfile.mkdtemp(prefix="intra_ablation_"))
    for module_name, path in ((wu_name, WU), (fwd_name, FWD)):
        file = folder / f"{module_name}.py"
        file.write_text(sources[path])
        spec = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # Triton's JIT resolves the kernels' globals through their module
        spec.loader.exec_module(module)
    return sys.modules[fwd_name]


def variants_for(op: str) -> dict[str, ModuleType]:
    return {name: patched_modules(name, patches) for name, (ops, patches) in VARIANTS.items() if op in ops}


def back_to_back_ms(fn, reps: int) -> float:
    import torch
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    groups = []
    for _ in range(5):
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        groups.append(start.elapsed_time(end) / reps)
    return statistics.median(groups)


def measure(op: str, B: int, T: int, reps: int) -> list[list[str]]:
    import torch
    import torch.nn.functional as F

    from kernels.utils.l2norm_triton import l2norm_triton
    gen = torch.Generator(device="cuda").manual_seed(B * T)
    q, k, v = (torch.randn(B, T, H, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(3))
    g = F.logsigmoid(torch.randn(B, T, H, D if op == "kda" else 1, device="cuda", generator=gen))
    beta = torch.sigmoid(torch.randn(B, T, H, device="cuda", generator=gen)).to(torch.bfloat16)
    amax = torch.zeros(1, device="cuda")
    if op == "kda":
        g = g / 16  # as benchmarks/kernels.py
        q, k = l2norm_triton(q, D ** -0.5, out_dtype=torch.float16), l2norm_triton(k, out_dtype=torch.float16)
    extra = {} if op == "kda" else {"norm_q_scale": D ** -0.5}
    modules = variants_for(op)
    times: dict[str, list[float]] = {}
    for _ in range(2):
        for name, module in modules.items():
            def call(module=module):
                module.intra_chunk_fwd(q, k, v, g, beta, C, "tf32", True, u0_amax=amax, store_ainv=False, **extra)
            times.setdefault(name, []).append(back_to_back_ms(call, reps))
    base = statistics.mean(times["as is"])
    op_name = "GDN" if op == "gated_delta_rule" else "KDA"
    return [[op_name, str(B), str(T), name, " / ".join(f"{t:.3f}" for t in ts),
             "-" if name == "as is" else f"{base - statistics.mean(ts):+.3f}"] for name, ts in times.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", nargs="+", default=["gated_delta_rule", "kda"], choices=["gated_delta_rule", "kda"])
    ap.add_argument("--shapes", nargs="+", type=kernel_benchmark().shape_arg, metavar="BxT", help=f"default: {SHAPES}")
    ap.add_argument("--reps", type=int, default=20, help="calls per timed group")
    record_arg(ap)
    a = ap.parse_args()
    for op in a.ops:
        variants_for(op)  # every patch still applies, before any GPU work
    import torch
    if not torch.cuda.is_available():
        sys.exit("intra_fwd_ablation: needs a CUDA GPU (it times kernels)")
    head = ["op", "B", "T", "variant", "intra forward ms (2 runs)", "saved vs as is, ms"]
    shapes = a.shapes or SHAPES
    table = stream_table(head, (row for op in a.ops for B, T in shapes for row in measure(op, B, T, a.reps)))
    notes = (f"H={H}, K=V={D}, C={C}, tf32, compact float16 chunk tensors, no backward (Ainv not kept). Back-to-back "
             "CUDA-event medians; 'saved' is the mean of the two runs against 'as is'.")
    print("\n" + table + "\n\n" + notes)
    if a.record:
        write_record("intra-fwd-ablation", "Intra-chunk forward ablation, one step cut out at a time", table, notes,
                     a.record)


if __name__ == "__main__":
    main()
