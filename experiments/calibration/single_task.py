"""Train a model (full attention unless --ratio says otherwise) on one synthetic task (or a mixture) through the
real data path, then probe it.

A CPU-sized check of the calibration question "does full attention learn this task at all, and how fast":
the training batches are the ones train.py builds (packed rows, document boundaries, answers-only labels), the
model is HybridLM, the scores are the probe suite's at training lengths. Lightning is left out to keep it fast.

    OMP_NUM_THREADS=2 python -m experiments.calibration.single_task --task copy --steps 300
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from data.stream import PackedBatches
from data.synthetic.datamodule import SyntheticSources
from data.synthetic.special_tokens import ASSISTANT
from data.synthetic.tasks import TASKS
from data.synthetic.vocab import VOCAB
from eval.config import EvalConfig
from eval.suite import autocast_for, run_suite
from hybrid.config import ModelConfig
from hybrid.lm import HybridLM
from hybrid.train.optim import OptimConfig, build_optimizer


def parse_mixture(text: str) -> dict[str, float]:
    """'mqar' or 'mqar=0.5,copy=0.5' -> {task: weight}."""
    out = {}
    for part in text.split(","):
        name, _, w = part.partition("=")
        out[name] = float(w) if w else 1.0
    return out


def narrow_axes(specs: list[str]) -> dict:
    """Apply 'task.axis=lo:hi' / 'task.axis=a|b' to the tasks' TRAIN_AXES; returns the replaced rules."""
    saved = {}
    for spec in specs:
        key, _, value = spec.partition("=")
        task, axis = key.split(".")
        if ":" in value:
            lo, hi = value.split(":")
            rule = (int(lo), int(hi))
        else:
            rule = [v == "True" if v in ("True", "False") else v for v in value.split("|")]
        saved[(task, axis)] = TASKS[task].TRAIN_AXES[axis]
        TASKS[task].TRAIN_AXES[axis] = rule
    return saved


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, help="task, or task=w,task=w (a mixture)")
    ap.add_argument("--probes", default=None, help="probes to score (default: the mixture's tasks that have one)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--attention", default="mha")
    ap.add_argument("--ratio", default="0:1", help="linear:attention layers, e.g. 3:1 for a hybrid")
    ap.add_argument("--linear", default="kda", help="the linear mixer of a hybrid")
    ap.add_argument("--conv-size", type=int, default=4, help="the delta-rule mixers' short convs (0: off)")
    ap.add_argument("--attention-conv", type=int, default=0, help="short convs on attention's q, k, v (0: none)")
    ap.add_argument("--loss-on", default="answers", choices=["answers", "all"])
    ap.add_argument("--no-boundaries", action="store_true")
    ap.add_argument("--examples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--axis", action="append", default=[],
                    help="task.axis=lo:hi or task.axis=a|b: narrow a task's TRAIN_AXES for training (probes unchanged)")
    ap.add_argument("--slices", action="store_true", help="print every slice of each probe, not just the headlines")
    ap.add_argument("--multiturn-template", choices=["dialogue", "adjacent", "adjacent-question"], default="dialogue",
                    help="a diagnostic: 'adjacent' renders a fact turn 'k3 v7 .' (the value right after its key, as in "
                         "MQAR) instead of 'set k3 = v7 .'; 'adjacent-question' also asks 'k3 <|assistant|>'")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast, the Triton kernels)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop training after this many seconds (the steps reached are recorded), then probe")
    ap.add_argument("--final-answer-only", action="store_true",
                    help="score only a dialogue's final answer (multiturn without make_sequence), for an A/B")
    args = ap.parse_args(argv)
    saved = narrow_axes(args.axis)
    if args.final_answer_only:
        del TASKS["multiturn"].make_sequence
    multiturn = TASKS["multiturn"]
    templates = multiturn._fact, multiturn._question
    if args.multiturn_template != "dialogue":  # training and probes alike: the probe calls the same generator
        multiturn._fact = lambda verb, key, value: [key, value, "."]
        if args.multiturn_template == "adjacent-question":
            multiturn._question = lambda key: [key, ASSISTANT]

    torch.manual_seed(args.seed)
    mixture = parse_mixture(args.task)
    answers = args.loss_on == "answers"
    sources = SyntheticSources(args.seq_len, mixture, args.seed, answers_only=answers)
    stream = PackedBatches(sources, args.seq_len, args.batch, boundaries=not args.no_boundaries,
                           unscore_continued=answers)
    batches = stream.slot_batches(0)
    cfg = ModelConfig(vocab_size=VOCAB.vocab_size, d_model=args.d_model, n_layers=args.layers, n_heads=args.heads,
                      head_dim=args.d_model // args.heads, ratio=args.ratio)
    cfg.attention.type = args.attention
    cfg.linear.variant, cfg.linear.conv_size = args.linear, args.conv_size
    cfg.attention.conv_size = args.attention_conv
    device = torch.device(args.device)
    model = HybridLM(cfg).to(device)
    opt, sched = build_optimizer(model, OptimConfig(lr=args.lr, warmup_steps=args.warmup), args.steps)
    start, losses = time.perf_counter(), []
    for step in range(args.steps):
        if args.max_seconds is not None and time.perf_counter() - start > args.max_seconds:
            break
        batch = next(batches)
        cu = batch.get("cu_seqlens")
        with autocast_for(device, "auto"):
            loss = model.loss(batch["input_ids"].to(device), batch["labels"].to(device),
                              None if cu is None else cu.to(device), batch.get("cu_seqlens_host"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % args.log_every == 0:
            recent = losses[-args.log_every:]
            print(f"step {step + 1:5d} loss {sum(recent) / len(recent):.3f} ({time.perf_counter() - start:.0f}s)",
                  flush=True)
    train_s = time.perf_counter() - start
    for (task, axis), rule in saved.items():  # probes judge held-out settings by the real TRAIN_AXES
        TASKS[task].TRAIN_AXES[axis] = rule
    probes = args.probes.split(",") if args.probes else [t for t in mixture if t != "filler"]
    res = run_suite(model, EvalConfig(probes=probes, examples=args.examples, regular_docs=0))
    multiturn._fact, multiturn._question = templates
    out = {"args": vars(args), "steps_done": len(losses), "train_s": round(train_s, 1),
           "final_loss": sum(losses[-20:]) / len(losses[-20:]) if losses else None}
    for name, rep in res["probes"].items():
        s = rep["slices"]
        out[name] = {"train": round(s["train"]["accuracy"], 3), "heldout": round(s["heldout"]["accuracy"], 3),
                     **{k: round(v["accuracy"], 3) for k, v in rep["headlines"].items()}}
        if args.slices:
            out[name]["slices"] = {k: round(v["accuracy"], 3) for k, v in s.items() if v["n"]}
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
