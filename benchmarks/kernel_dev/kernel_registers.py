"""Registers, spills and shared memory of our Triton kernels compiled for sm_90 (Hopper) on any machine, no GPU.

    python benchmarks/kernel_dev/kernel_registers.py            # every kernel at the benchmark's launch configs
    python benchmarks/kernel_dev/kernel_registers.py --warps 8  # override num_warps everywhere

Each kernel is compiled the way the KDA / GDN benchmark launches it (bf16 q/k/v/beta, fp32 gates, C=64, K=V=128,
tf32 products, the compact float16 chunk tensors and the walks' float16 stores) and ptxas' resource usage is read
back with cuobjdump: REG (registers per thread, 255 at most), STACK (bytes per thread spilled to local memory;
LOCAL stays 0 for spills) and Triton's shared memory. Register allocation changes between Triton releases, so run
it with the version the GPU runs (the device image has 3.6: `pip install triton==3.6.0` in a spare venv); the
header says which ran.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kernels.common import chunk_grads, chunk_output, chunk_state  # noqa: E402
from kernels.delta_rule import intra_wy_bwd, intra_wy_fwd, intra_wy_u0_w  # noqa: E402
from kernels.utils.launch import DEFAULT_LAUNCH  # noqa: E402

F32, BF16, F16, I32 = "*fp32", "*bf16", "*fp16", "i32"


def ints(names: str) -> dict:
    return {n: I32 for n in names.split()}


def resources(fn, signature: dict, constexprs: dict, num_warps: int, num_stages: int) -> tuple[int, int, int]:
    """(registers, spilled bytes per thread, shared bytes) of fn compiled for sm_90."""
    sig = dict(signature, **{name: "constexpr" for name in constexprs})
    compiled = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=constexprs), target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": num_warps, "num_stages": num_stages, "enable_fp_fusion": True})
    cuobjdump = Path(triton.__file__).parent / "backends/nvidia/bin/cuobjdump"
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "kernel.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        usage = subprocess.run([str(cuobjdump), "-res-usage", str(cubin)], capture_output=True, text=True,
                               check=True).stdout
    regs, stack = re.search(r"REG:(\d+)", usage), re.search(r"STACK:(\d+)", usage)
    return int(regs.group(1)), int(stack.group(1)), compiled.metadata.shared


def kernels_to_check(C: int = 64, K: int = 128, V: int = 128) -> list[tuple[str, object, dict, dict, int, int]]:
    """(name, kernel, signature, constexprs, num_warps, num_stages) as the KDA / GDN benchmark launches them."""
    fwd_sig = dict(Q=F32, KEY=F32, VAL=BF16, G=F32, BETA=BF16, U0=F32, W=F16, KEND=F16, DECAY=F32, QDEC=F16, QK=F16,
                   AINV=F32, KROW=F32, U0_AMAX=F32, T=I32, H=I32, q_scale="fp32", eps="fp32",
                   **ints("sq_b sq_t sq_h sq_d sk_b sk_t sk_h sk_d sv_b sv_t sv_h sv_d "
                          "sg_b sg_t sg_h sg_d sb_b sb_t sb_h"))
    prep_sig = dict(G=F32, KEY=BF16, VAL=BF16, BETA=BF16, AINV=F32, U0=F32, W=F16, DU0=F32, DW=F32, DKTE=F32, DDC=F32,
                    GCUM=F32, SUFFIX=F32, DA=F32, DV=BF16, DBETA=F32,
                    **ints("s_kb s_kt s_kh s_kd s_vb s_vt s_vh s_vd s_gb s_gt s_gh s_gd s_bb s_bt s_bh T H N"))
    channel_sig = dict(Q=BF16, KEY=BF16, BETA=BF16, AINV=F32, DW=F32, DKTE=F32, SUFFIX=F32, DQD=F32, DQK=F32, GCUM=F32,
                       DA=F32, DQ=BF16, DK=BF16, DG=F32, DBETA=F32, EXACT_TODO="*i8",
                       **ints("s_qb s_qt s_qh s_qd s_kb s_kt s_kh s_kd s_bb s_bt s_bh T H N"))
    head_sig = dict(Q=BF16, KEY=BF16, VAL=BF16, G=F32, BETA=BF16, AINV=F32, U0=F32, W=F16, DU0=F32, DW=F32, DKTE=F32,
                    DDC=F32, DQD=F32, DQK=F32, DQ=BF16, DK=BF16, DV=BF16, DG=F32, DBETA=F32,
                    **ints("s_qb s_qt s_qh s_qd s_kb s_kt s_kh s_kd s_vb s_vt s_vh s_vd s_gb s_gt s_gh s_bb s_bt s_bh "
                           "T H N"))
    walk_fwd_sig = dict(W=F16, U0=F32, KD=F16, DECAY=F32, QD=F16, QK=F16, H0=F32, OUT=BF16, U=F16, S_IN=F16, S_OUT=F32,
                        SEQ_START="*i32", CHUNK_START="*i32", AMAX=F32, NC=I32, T=I32, H=I32,
                        **ints("s_ob s_ot s_oh s_ov"))
    walk_bwd_sig = dict(DO=BF16, DS_OUT=F32, W=F16, KD=F16, DECAY=F32, QD=F16, QK=F16, S_IN=F16, DO_C=F16, DU=F32,
                        DS_NEXT=F16, DDECAY=F32, DH0=F32, SEQ_START="*i32", CHUNK_START="*i32", AMAX=F32, S_AMAX=F32,
                        NC=I32, T=I32, H=I32, ALL_CHUNKS=I32, **ints("s_db s_dt s_dh s_dv"))
    grads_sig = dict(S_IN=F16, DS_NEXT=F16, U=F16, DU=F32, DO_C=F16, DW=F32, DKD=F32, DQD=F32, DQK=F32, S_AMAX=F32,
                     DS_AMAX=F32)
    tile = dict(C=C, K=K, V=V, BK=32, BV=32, PREC="tf32")
    walk = dict(C=C, K=K, V=V, BK=K, HAS_W=True, VARLEN=False, PREC="tf32", HALF=True)  # float16 W, Kd, Qd, QK
    # training: max |U0| for the walk, q and k normalised beforehand (float32)
    intra_stores = dict(STORE_AMAX=True, NORM=False)
    rows = []
    wu_sig = dict(KEY=F32, VAL=BF16, G=F32, BETA=BF16, AINV=F32, KROW=F32, U0=F32, W=F16, U0_AMAX=F32, T=I32, H=I32,
                  **ints("sk_b sk_t sk_h sk_d sv_b sv_t sv_h sv_d sg_b sg_t sg_h sg_d sb_b sb_t sb_h"))
    for per_channel, op in ((True, "KDA"), (False, "GDN")):
        rows.append((f"intra forward ({op})", intra_wy_fwd._intra_chunk_fwd_kernel, fwd_sig,
                     dict(tile, PER_CHANNEL=per_channel, PASS2=True, **intra_stores), 4, 1))
    # GDN's forward without a backward: bf16 q and k as they come, L2-normalised in the kernel
    rows.append(("intra forward, no backward (GDN)", intra_wy_fwd._intra_chunk_fwd_kernel,
                 dict(fwd_sig, Q=BF16, KEY=BF16),
                 dict(tile, PER_CHANNEL=False, PASS2=True, STORE_AMAX=True, NORM=True), 4, 1))
    for per_channel, op in ((True, "KDA"), (False, "GDN")):  # split_wu: the forward without pass 2, then U0 / W
        rows.append((f"intra forward without U0 / W ({op})", intra_wy_fwd._intra_chunk_fwd_kernel, fwd_sig,
                     dict(tile, PER_CHANNEL=per_channel, PASS2=False, **intra_stores), 4, 1))
        rows.append((f"intra U0 / W ({op})", intra_wy_u0_w._intra_wu_kernel, wu_sig,
                     dict(tile, PER_CHANNEL=per_channel, STORE_AMAX=True, NORM=False), 4, DEFAULT_LAUNCH.wu_stages))
    # and GDN's without a backward: q, k normalised in the forward kernel, whose row factors the U0 / W launch reads
    rows.append(("intra forward without U0 / W, no backward (GDN)", intra_wy_fwd._intra_chunk_fwd_kernel,
                 dict(fwd_sig, Q=BF16, KEY=BF16),
                 dict(tile, PER_CHANNEL=False, PASS2=False, STORE_AMAX=True, NORM=True), 4, 1))
    rows.append(("intra U0 / W, no backward (GDN)", intra_wy_u0_w._intra_wu_kernel, dict(wu_sig, KEY=BF16),
                 dict(tile, PER_CHANNEL=False, STORE_AMAX=True, NORM=True), 4, DEFAULT_LAUNCH.wu_stages))
    rows += [
        ("intra backward prep (KDA)", intra_wy_bwd._intra_bwd_channel_prep, prep_sig, tile, 4, 1),
        ("intra backward, fast pass (KDA)", intra_wy_bwd._intra_bwd_channel, channel_sig,
         dict(C=C, K=K, BK=32, PREC="tf32", EXACT=False), 8, 2),
        ("intra backward, exact pass (KDA)", intra_wy_bwd._intra_bwd_channel, channel_sig,
         dict(C=C, K=K, BK=32, PREC="tf32", EXACT=True), 4, 1),
        ("intra backward (GDN)", intra_wy_bwd._intra_bwd_head, head_sig, tile, 4, 1),
    ]
    # as launched at H = 16 (chunk_state._launch): B = 1 BV=16 (o after the walk), B = 2 BV=32, forward at 3
    # stages, backward at 2; B >= 4 forward BV=64 at 2 stages (B <= 8), backward BV=32 at 1; no initial state
    for bv, stages in ((16, 3), (32, 3), (64, 2)):
        rows.append((f"walk forward BV={bv}", chunk_state._chunk_state_fwd, walk_fwd_sig,
                     dict(walk, BV=bv, STORE_O=bv > 16, HAS_H0=False), 4, stages))
    output_sig = dict(QD=F16, QK=F16, S_IN=F16, U=F16, OUT=BF16, SEQ_START="*i32", CHUNK_START="*i32",
                      CHUNK_SEQ="*i32", AMAX=F32, NC=I32, T=I32, H=I32, **ints("s_ob s_ot s_oh s_ov"))
    rows.append(("output after the walk (B=1)", chunk_output._chunk_output, output_sig,
                 dict(C=C, K=K, V=V, BK=K, BV=V, U_SCALED=True, VARLEN=False, PREC="tf32", HALF=True), 4, 1))
    for bv, stages in ((16, 2), (32, 2), (32, 1)):
        rows.append((f"walk backward BV={bv}, {stages} stage{'s' * (stages > 1)}", chunk_state._chunk_state_bwd,
                     walk_bwd_sig, dict(walk, BV=bv, HAS_DS_OUT=False), 4, stages))
    BK, BV = chunk_grads._tiles(C, K, V, half=True)
    rows.append(("chunk gradients", chunk_grads._chunk_grads, grads_sig,
                 dict(C=C, K=K, V=V, BK=BK, BV=BV, HAS_W=True, PREC="tf32", HALF=True), 4, 2))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warps", type=int, help="num_warps for every kernel (default: the launch's)")
    a = ap.parse_args()
    print(f"triton {triton.__version__}, sm_90, C=64, K=V=128, bf16 inputs, tf32 products")
    print("| kernel | warps | stages | registers | spilled bytes / thread | shared KB |")
    print("|---|---|---|---|---|---|")
    for name, fn, sig, constexprs, warps, stages in kernels_to_check():
        warps = a.warps or warps
        regs, spill, shared = resources(fn, sig, constexprs, warps, stages)
        print(f"| {name} | {warps} | {stages} | {regs} | {spill} | {shared / 1024:.0f} |", flush=True)


if __name__ == "__main__":
    main()
