"""Triton vs float64 PyTorch on the MQAR toy's shapes (B=256, T=64, H=2, K=V=64), with and without a backward.

Prints the error ratio RMSE / RMS of o and of every gradient for gated_delta_rule, kda and delta_rule, inputs in
bf16 as under autocast, gates in float32 from the models' own initialisation ranges.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kernels import chunk_delta_rule, chunk_gated_delta_rule, chunk_kda, set_backend  # noqa: E402


def err(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a.double() - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()).item()


def inputs(op: str, B: int, T: int, H: int, K: int, dev: str):
    q, k, v = (torch.randn(B, T, H, K, device=dev) for _ in range(3))
    A = torch.empty(H, device=dev).uniform_(1, 16)
    dt = torch.exp(torch.rand(H, device=dev) * (torch.log(torch.tensor(0.1)) - torch.log(torch.tensor(1e-3)))
                   + torch.log(torch.tensor(1e-3))).to(dev)
    a = torch.randn(B, T, H, device=dev) * 0.5
    g = -A * F.softplus(a + torch.log(torch.expm1(dt)))  # (B, T, H)
    if op == "kda":
        g = g[..., None] * torch.rand(B, T, H, K, device=dev)
    beta = torch.sigmoid(torch.randn(B, T, H, device=dev))
    return q, k, v, g, beta


def run(op: str, q, k, v, g, beta, grad: bool, do: torch.Tensor):
    fn = {"gated_delta_rule": chunk_gated_delta_rule, "kda": chunk_kda, "delta_rule": chunk_delta_rule}[op]
    ts = [t.detach().clone().requires_grad_(grad) for t in (q, k, v, g, beta)]
    args = ts if op != "delta_rule" else [ts[0], ts[1], ts[2], ts[4]]
    with torch.set_grad_enabled(grad):
        o, _ = fn(*args, use_qk_l2norm_in_kernel=True)
    if not grad:
        return o, []
    (o.double() * do.double()).sum().backward()
    return o, [t.grad for t in ts if t.grad is not None]


def main() -> None:
    dev = "cuda"
    torch.manual_seed(0)
    for op in ("gated_delta_rule", "kda", "delta_rule"):
        for B, T, H, K in ((256, 64, 2, 64), (4, 200, 2, 64), (2, 64, 4, 32)):
            q, k, v, g, beta = inputs(op, B, T, H, K, dev)
            do = torch.randn_like(v)
            set_backend("torch")
            ref_o, ref_g = run(op, q.double(), k.double(), v.double(), g.double(), beta.double(), True, do)
            set_backend("triton")
            for grad in (False, True):
                o, grads = run(op, q.bfloat16(), k.bfloat16(), v.bfloat16(), g, beta, grad, do)
                errs = [err(o, ref_o)] + [err(a, b) for a, b in zip(grads, ref_g)]
                print(f"{op:17s} B={B:3d} T={T:3d} H={H} K={K:3d} grad={grad!s:5s} o,d* err: "
                      + " ".join(f"{e:.2e}" for e in errs), flush=True)


if __name__ == "__main__":
    main()
