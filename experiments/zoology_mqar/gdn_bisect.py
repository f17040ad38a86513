"""Why did gated_deltanet stay at chance on Zoology's MQAR on the GPU? Train the same toy under each setting.

Each cell trains the MQAR toy (eval/calibration/mqar_toy.py: 2 layers of one mixer) on one (seq_len, pairs)
segment and reports held-out accuracy on the answers, every steps/8 steps. Cells differ in one factor at a time:
kernel path (torch / triton), bf16 autocast, vocabulary, width. Triton cells are also scored through the PyTorch path
(same weights), which separates a training-path defect from an evaluation-path one.

    python experiments/zoology_mqar/gdn_bisect.py --cells all --out bisect.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from data.synthetic.zoology_mqar import zoology_mqar  # noqa: E402
from eval.calibration.mqar_toy import ToyRun, answer_accuracy, toy_model, train_toy  # noqa: E402
from kernels import set_backend  # noqa: E402

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


def train_cell(cell: dict, device: str, keep_model: bool = False) -> dict:
    set_backend(cell["backend"])
    train = [zoology_mqar(cell["n_train"], cell["vocab"], cell["seq_len"], cell["pairs"], seed=1)]
    x_te, y_te = zoology_mqar(1000, cell["vocab"], cell["seq_len"], cell["pairs"], seed=2)
    torch.manual_seed(cell["seed"])
    model = toy_model(cell["mixer"], cell["d_model"], cell["heads"], cell["vocab"]).to(device)
    run = ToyRun(steps=cell["steps"], batch=cell["batch"], lr=cell["lr"], seed=cell["seed"], autocast=cell["autocast"])
    curve: list[tuple[int, float, float]] = []

    def probe(step: int, loss: torch.Tensor) -> None:
        if step % max(1, run.steps // 8) == 0 or step == run.steps:
            curve.append((step, round(loss.item(), 4), round(answer_accuracy(model, x_te, y_te, run.autocast), 4)))

    t0 = time.time()
    train_toy(model, train, run, on_step=probe)
    out = {**cell, "curve": curve, "acc": curve[-1][2], "seconds": round(time.time() - t0, 1)}
    if cell["backend"] == "triton":
        set_backend("torch")
        out["acc_torch_eval"] = round(answer_accuracy(model, x_te, y_te, run.autocast), 4)
        set_backend("triton")
    if keep_model:
        out["model"] = model
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="all", help="comma list of cell names, or all")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", nargs="*", default=[], help="key=value applied to every cell")
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
            cell[k] = (v == "true") if isinstance(BASE[k], bool) else type(BASE[k])(v)
        r = train_cell(cell, device)
        print(f"{name:24s} acc {r['acc']:.3f} (torch eval {r.get('acc_torch_eval', '-')}) {r['seconds']:6.1f}s "
              f"curve {r['curve']}", flush=True)
        results.append(r)
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
