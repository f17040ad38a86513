"""Does the decode path (prefill with caches, then one token at a time) give the full forward's logits on the GPU?

For each mixer, backend and precision: a 2-layer HybridLM (d_model 128, 2 heads: K = 64) scores 64-token rows once
in full and once as a 32-token prefill followed by 32 single-token decode steps; printed is the error ratio of the
decoded logits and the argmax agreement. Then one GDN model is trained briefly on MQAR (gdn_bisect.py) and its
accuracy on answer positions >= 32 is taken both ways.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from gdn_bisect import BASE, train_cell  # noqa: E402

from data.synthetic.zoology_mqar import zoology_mqar  # noqa: E402
from eval.calibration.mqar_toy import toy_model  # noqa: E402
from kernels import set_backend  # noqa: E402


@torch.no_grad()
def both_ways(model, x, amp: bool, split: int = 32):
    dev = x.device.type
    with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
        full, _ = model(x)
        caches = model.new_cache()
        pre, caches = model(x[:, :split], caches)
        steps = [pre]
        for t in range(split, x.shape[1]):
            lo, caches = model(x[:, t:t + 1], caches)
            steps.append(lo)
    return full.float(), torch.cat(steps, 1).float()


def main() -> None:
    dev = "cuda"
    x = torch.randint(8192, (8, 64), device=dev)
    for mixer in ("gated_deltanet", "kda", "deltanet", "linear", "lightning", "mha"):
        torch.manual_seed(0)
        model = toy_model(mixer, 128, 2, 8192).to(dev).eval()
        for backend in ("triton", "torch"):
            set_backend(backend)
            for amp in (True, False):
                full, dec = both_ways(model, x, amp)
                e = ((dec - full).pow(2).mean().sqrt() / full.pow(2).mean().sqrt()).item()
                agree = (dec.argmax(-1) == full.argmax(-1)).float().mean().item()
                print(f"{mixer:15s} {backend:6s} bf16={amp!s:5s} decode-vs-full err {e:.2e} argmax agree {agree:.3f}",
                      flush=True)
    cell = {**BASE, "steps": 600, "name": "gdn_decode"}
    r = train_cell(cell, dev, keep_model=True)
    model = r.pop("model")
    xt, yt = zoology_mqar(500, 8192, 64, 4, seed=2)
    xt, yt = xt.to(dev), yt.to(dev)
    for backend in ("triton", "torch"):
        set_backend(backend)
        full, dec = both_ways(model.eval(), xt, True)
        m = yt[:, 32:] != -100
        tf = (full[:, 32:].argmax(-1)[m] == yt[:, 32:][m]).float().mean().item()
        de = (dec[:, 32:].argmax(-1)[m] == yt[:, 32:][m]).float().mean().item()
        print(f"trained GDN ({r['acc']:.3f} teacher-forced overall) {backend}: acc at positions >= 32: "
              f"full forward {tf:.3f}, prefill+decode {de:.3f}", flush=True)


if __name__ == "__main__":
    main()
