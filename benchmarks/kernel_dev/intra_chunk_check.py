"""GPU diagnostic: the fused intra-chunk kernels (forward and backward) against the float32 PyTorch `intra_chunk`
over a grid of dtypes, head dims, chunks and gate kinds; prints the worst error ratio per output and config.

    python benchmarks/kernel_dev/intra_chunk_check.py [--T 180]
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kernels.delta_rule.chunk import intra_chunk  # noqa: E402
from kernels.delta_rule.intra_wy_bwd import intra_chunk_bwd  # noqa: E402
from kernels.delta_rule.intra_wy_fwd import intra_chunk_fwd  # noqa: E402
from kernels.utils.triton_support import dot_precision  # noqa: E402

NAMES = ("U0", "W", "k_to_end", "decay", "q_decayed", "qk", "Ainv")


def ratio(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt().clamp_min(1e-30)).item()


def check(dtype, K, V, C, per_channel, T, H=2, B=1, seed=0) -> dict:
    gen = torch.Generator(device="cuda").manual_seed(seed)

    def randn(*s):
        return torch.randn(*s, device="cuda", generator=gen)

    q = (randn(B, T, H, K) * K ** -0.5).to(dtype)
    k = F.normalize(randn(B, T, H, K), dim=-1).to(dtype)
    v = randn(B, T, H, V).to(dtype)
    g = F.logsigmoid(randn(B, T, H, K if per_channel else 1)).to(dtype)
    beta = torch.sigmoid(randn(B, T, H)).to(dtype)
    prec = dot_precision(dtype)
    got = intra_chunk_fwd(*(x.float() for x in (q, k, v, g, beta)), C, prec)
    leaves = [x.double().requires_grad_() for x in (q, k, v, g, beta)]
    pad = -T % C
    ref = intra_chunk(*[F.pad(x, (0, 0) * (x.dim() - 2) + (0, pad)) for x in leaves], C)
    out = {n: ratio(a, b) for n, a, b in zip(NAMES[:6], got[:6], ref)}
    grads = [torch.randn_like(r) for r in ref]
    dref = torch.autograd.grad(ref, leaves, grads)
    dgot = intra_chunk_bwd(*(x.float() for x in (q, k, v, g, beta)), C, got[0], got[1], got[6],
                           *(x.float() for x in grads), precision=prec)
    out.update({n: ratio(a, b) for n, a, b in zip(("dq", "dk", "dv", "dg", "dbeta"), dgot, dref)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, default=180)
    a = ap.parse_args()
    worst_all = 0.0
    for dtype, K, V, C, pc in itertools.product((torch.bfloat16, torch.float16, torch.float32), (64, 128),
                                                 (32, 128), (16, 32, 64), (False, True)):
        r = check(dtype, K, V, C, pc, a.T)
        worst = max(r, key=r.get)
        worst_all = max(worst_all, r[worst])
        flag = "  <-- BAD" if r[worst] > 2e-2 else ""
        print(f"{str(dtype)[6:]:8} K={K:3} V={V:3} C={C:2} {'chan' if pc else 'head'}: worst {worst}={r[worst]:.1e} "
              + " ".join(f"{n}={x:.0e}" for n, x in r.items()) + flag, flush=True)
    print(f"worst over the grid: {worst_all:.2e}")


if __name__ == "__main__":
    main()
