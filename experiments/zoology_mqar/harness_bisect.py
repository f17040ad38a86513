"""The MQAR toy at 600 steps: GDN and KDA at 0% in one training setting, 64-80% in another. Which factor?

Each cell is the training-dynamics test's setting (vocab 8192, d_model 128, 2 heads, (64, 4), batch 256, lr 3e-3,
600 steps, 20k training examples, AdamW betas (0.9, 0.95), weight decay off the gates) with one factor changed.
    python experiments/zoology_mqar/harness_bisect.py CELL [CELL ...]  (one process per cell; prints one JSON line)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from data.synthetic.zoology_mqar import zoology_mqar  # noqa: E402
from eval.calibration.mqar_toy import ToyRun, answer_accuracy, toy_model, train_toy  # noqa: E402

BASE = dict(mixer="gated_deltanet", n_train=20_000, steps=600, beta2=0.95, decay_all=False)
CELLS = {
    "base": {},
    "n100k": dict(n_train=100_000),
    "beta999": dict(beta2=0.999),
    "decay_all": dict(decay_all=True),
    "steps1000": dict(steps=1000),
    "old_harness": dict(n_train=100_000, beta2=0.999, decay_all=True),
    "kda_n100k": dict(mixer="kda", n_train=100_000),
    "mha_base": dict(mixer="mha"),
    "mha_n100k": dict(mixer="mha", n_train=100_000),
    "kda_base": dict(mixer="kda"),
}


def main() -> None:
    for name in sys.argv[1:]:
        c = {**BASE, **CELLS[name]}
        train = [zoology_mqar(c["n_train"], 8192, 64, 4, seed=1)]
        x_te, y_te = zoology_mqar(500, 8192, 64, 4, seed=2)
        x_tr, y_tr = train[0][0][:500], train[0][1][:500]
        torch.manual_seed(0)
        model = toy_model(c["mixer"], 128, 2, 8192).cuda()
        run = ToyRun(steps=c["steps"], batch=256, lr=3e-3, beta2=c["beta2"], decay_all=c["decay_all"])
        t0 = time.time()
        loss = train_toy(model, train, run)
        print(json.dumps({"cell": name, **c, "loss": round(loss, 3), "held_out": answer_accuracy(model, x_te, y_te),
                          "train_rows": answer_accuracy(model, x_tr, y_tr), "s": round(time.time() - t0)}),
              flush=True)


if __name__ == "__main__":
    main()
