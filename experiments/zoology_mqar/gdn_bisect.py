"""Why does gated_deltanet stay at chance on Zoology's MQAR on the GPU? Train the same toy under each setting.

Each cell trains a 2-layer HybridLM (one mixer kind in both layers) on Zoology-style MQAR (keys and values from
disjoint vocabulary halves, pairs first, queries at power-law gaps, loss on the answers only) and reports held-out
accuracy on the answer positions. Cells differ in one factor at a time: kernel path (torch / triton), bf16 autocast,
vocabulary, width. Run: python experiments/zoology_mqar/gdn_bisect.py --cells all --out bisect.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hybrid.config import ModelConfig  # noqa: E402
from hybrid.lm import HybridLM  # noqa: E402
from kernels import set_backend  # noqa: E402


def zoology_mqar(n: int, vocab: int, seq_len: int, pairs: int, seed: int, power_a: float = 0.01):
    """Zoology's multiquery_ar: (inputs, labels) int64 (n, seq_len); labels -100 except at answer positions."""
    rng = np.random.default_rng(seed)
    ctx = 2 * pairs
    half = vocab // 2
    keys = np.stack([rng.choice(np.arange(1, half), pairs, replace=False) for _ in range(n)])
    vals = np.stack([rng.choice(np.arange(half, vocab), pairs, replace=False) for _ in range(n)])
    kvs = np.zeros((n, ctx), dtype=np.int64)
    kvs[:, 0::2], kvs[:, 1::2] = keys, vals
    space = (seq_len - ctx) // 2
    p = power_a * np.arange(1, space + 1) ** (power_a - 1)
    p = p / p.sum()
    gaps = np.stack([rng.choice(space, pairs, replace=False, p=p) for _ in range(n)])
    queries = np.zeros((n, seq_len - ctx + 1), dtype=np.int64)
    np.put_along_axis(queries, gaps * 2, keys, axis=1)
    examples = np.concatenate([kvs, queries], axis=1)
    labels = np.full((n, seq_len + 1), -100, dtype=np.int64)
    np.put_along_axis(labels, gaps * 2 + ctx + 1, vals, axis=1)
    x, y = torch.tensor(examples[:, :-1]), torch.tensor(labels[:, 1:])
    noise = torch.randint(vocab, x.shape, generator=torch.Generator().manual_seed(seed))
    x = torch.where(x == 0, noise, x)
    return x, y


def build(mixer: str, d_model: int, heads: int, vocab: int) -> HybridLM:
    linear = mixer != "mha"
    cfg = ModelConfig(vocab_size=vocab, d_model=d_model, n_layers=2, n_heads=heads, head_dim=d_model // heads,
                      ratio="1:0" if linear else "0:1")
    if linear:
        cfg.linear.variant = mixer
    return HybridLM(cfg)


def train_cell(cell: dict, device: str, keep_model: bool = False) -> dict:
    torch.manual_seed(cell.get("seed", 0))
    set_backend(cell["backend"])
    vocab, T, pairs = cell["vocab"], cell["seq_len"], cell["pairs"]
    x_tr, y_tr = zoology_mqar(cell["n_train"], vocab, T, pairs, seed=1)
    x_te, y_te = zoology_mqar(1000, vocab, T, pairs, seed=2)
    model = build(cell["mixer"], cell["d_model"], cell["heads"], vocab).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cell["lr"], weight_decay=0.1)
    steps, bs = cell["steps"], cell["batch"]
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    amp = cell["autocast"] and device == "cuda"
    g = torch.Generator().manual_seed(3)
    curve = []
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(len(x_tr), (bs,), generator=g)
        xb, yb = x_tr[idx].to(device), y_tr[idx].to(device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=amp):
            logits, _ = model(xb)
        loss = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % max(1, steps // 8) == 0 or step + 1 == steps:
            curve.append((step + 1, round(loss.item(), 4), round(accuracy(model, x_te, y_te, device, amp), 4)))
    out = {**cell, "curve": curve, "acc": curve[-1][2], "seconds": round(time.time() - t0, 1)}
    if cell["backend"] == "triton":  # the same weights scored through the PyTorch path: a train- or eval-path bug?
        set_backend("torch")
        out["acc_torch_eval"] = round(accuracy(model, x_te, y_te, device, amp), 4)
        set_backend("triton")
    if keep_model:
        out["model"] = model
    return out


@torch.no_grad()
def accuracy(model, x, y, device, amp) -> float:
    model.eval()
    hit = tot = 0
    for i in range(0, len(x), 250):
        xb, yb = x[i:i + 250].to(device), y[i:i + 250].to(device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=amp):
            logits, _ = model(xb)
        m = yb != -100
        hit += (logits.argmax(-1)[m] == yb[m]).sum().item()
        tot += m.sum().item()
    model.train()
    return hit / tot


BASE = dict(mixer="gated_deltanet", backend="triton", autocast=True, vocab=8192, d_model=128, heads=2, seq_len=64,
            pairs=4, batch=256, lr=3e-3, steps=1500, n_train=100_000, seed=0)
CELLS = {
    "gdn_triton_bf16": {},
    "gdn_torch_bf16": dict(backend="torch"),
    "gdn_triton_fp32": dict(autocast=False),
    "gdn_torch_fp32": dict(backend="torch", autocast=False),
    "gdn_triton_bf16_v512": dict(vocab=512),
    "gdn_triton_bf16_d64": dict(d_model=64),
    "linear_triton_bf16": dict(mixer="linear"),
    "kda_triton_bf16": dict(mixer="kda"),
    "deltanet_triton_bf16": dict(mixer="deltanet"),
    "mha_bf16": dict(mixer="mha"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", default="all", help="comma list of cell names, or all")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", nargs="*", default=[], help="key=value applied to every cell (ints/floats parsed)")
    a = ap.parse_args()
    names = list(CELLS) if a.cells == "all" else a.cells.split(",")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = []
    for name in names:
        cell = {**BASE, **CELLS[name], "name": name}
        if a.steps:
            cell["steps"] = a.steps
        for kv in a.set:
            k, v = kv.split("=", 1)
            cell[k] = type(BASE[k])(v) if not isinstance(BASE[k], bool) else v == "true"
        r = train_cell(cell, device)
        print(f"{name:24s} acc {r['acc']:.3f} (torch eval {r.get('acc_torch_eval', '-')}) {r['seconds']:6.1f}s "
              f"curve {r['curve']}", flush=True)
        results.append(r)
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
