"""The Zoology MQAR toy: a 2-layer model of one mixer kind trained on integer-token MQAR, scored on the answers.

Each block is mixer + SwiGLU MLP as HybridLM builds it (Zoology's figure-2 models have no MLP and put a short conv
in front of some mixers; our delta-rule mixers carry their own short convs). Training is plain AdamW with warm-up and
cosine decay, gradient clipping at 1, bf16 autocast on CUDA; weight decay 0.1 except on the decay parameters.
The head runs on the answer positions only (the loss is the same; the logits of a 256 x 512 batch at vocab 8192
would be 4 GiB in fp32). With ToyRun.ckpt set, training saves every ckpt_every steps and on SIGTERM, and resumes.
This is the setting experiments/zoology_mqar/ runs and the training-dynamics tests hold every mixer to.
"""
from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from hybrid.config import ModelConfig
from hybrid.lm import HybridLM


@dataclass(frozen=True)
class ToyRun:
    steps: int = 1000
    """Optimizer steps; each step draws one batch from one segment, the segments in turn."""
    batch: int = 256
    """Rows per step."""
    lr: float = 3e-3
    """Peak learning rate (linear warm-up over the first 10% of steps, then cosine to 0)."""
    seed: int = 0
    """Seeds the initialisation and the batch order."""
    autocast: bool = True
    """bf16 autocast (CUDA only; CPU runs in fp32)."""
    beta2: float = 0.95
    """AdamW's second-moment decay (beta1 is 0.9)."""
    weight_decay: float = 0.1
    """AdamW weight decay on the matrices (never on norms, biases or the decay parameters unless decay_all)."""
    decay_all: bool = False
    """Apply weight_decay to every parameter, the decay gates' A_log and dt_bias included."""
    ckpt: str | None = None
    """A file to save the training state to (every ckpt_every steps, on SIGTERM, at the end) and resume from."""
    ckpt_every: int = 500
    """Steps between saves when ckpt is set."""


class ToyStopped(Exception):
    """Training stopped on SIGTERM after saving ToyRun.ckpt; running again with the same ToyRun resumes."""


CONV_SUFFIX = "+conv"
"""'linear+conv', 'lightning+conv', 'mha+conv': the mixer with width-4 short convs on q, k, v (Zoology's models give
every mixer one; our delta-rule mixers have theirs built in)."""


def toy_model(mixer: str, d_model: int, heads: int, vocab: int, n_layers: int = 2) -> HybridLM:
    """n_layers blocks of one mixer: a linear variant name (gated_deltanet, kda, ...) or 'mha', either + CONV_SUFFIX."""
    name, conv = mixer.removesuffix(CONV_SUFFIX), mixer.endswith(CONV_SUFFIX)
    linear = name != "mha"
    cfg = ModelConfig(vocab_size=vocab, d_model=d_model, n_layers=n_layers, n_heads=heads,
                      head_dim=d_model // heads, ratio="1:0" if linear else "0:1")
    if linear:
        cfg.linear.variant = name
        cfg.linear.plain_conv_size = 4 if conv else 0
    else:
        cfg.attention.conv_size = 4 if conv else 0
    return HybridLM(cfg)


def train_toy(model: HybridLM, segments: Sequence[tuple[torch.Tensor, torch.Tensor]], run: ToyRun,
              on_step=None) -> float:
    """Train on (inputs, labels) segments in turn; returns the last batch's loss. on_step(step, loss) if given."""
    dev = next(model.parameters()).device
    torch.manual_seed(run.seed)
    exempt = [run.decay_all is False and (p.dim() < 2 or getattr(p, "_no_weight_decay", False))
              for p in model.parameters()]
    decay = [p for p, e in zip(model.parameters(), exempt) if not e]
    keep = [p for p, e in zip(model.parameters(), exempt) if e]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": run.weight_decay},
                             {"params": keep, "weight_decay": 0.0}], lr=run.lr, betas=(0.9, run.beta2))
    warm = max(1, run.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / run.steps))))
    amp = run.autocast and dev.type == "cuda"
    g = torch.Generator().manual_seed(run.seed)
    model.train()
    loss = torch.tensor(float("nan"))
    start, before = _load(run.ckpt, model, opt, sched, g) if run.ckpt else (0, 0.0)
    t0 = time.perf_counter()
    stop: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum)) if run.ckpt else None
    try:
        for step in range(start, run.steps):
            x, y = segments[step % len(segments)]
            idx = torch.randint(len(x), (run.batch,), generator=g)
            loss = answer_loss(model, x[idx].to(dev), y[idx].to(dev), amp)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if on_step is not None:
                on_step(step + 1, loss)
            if run.ckpt and (stop or (step + 1) % run.ckpt_every == 0 or step + 1 == run.steps):
                _save(run.ckpt, step + 1, model, opt, sched, g, loss.item(), before + time.perf_counter() - t0)
                if stop:
                    raise ToyStopped(f"stopped by signal {stop[0]} at step {step + 1}; state saved to {run.ckpt}")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if start == run.steps and run.ckpt:  # finished before: the saved last loss
        return float(torch.load(run.ckpt, map_location="cpu", weights_only=False)["loss"])
    return loss.item()


def answer_loss(model: HybridLM, x: torch.Tensor, y: torch.Tensor, autocast: bool) -> torch.Tensor:
    """Mean cross-entropy over the answer positions (y != -100), the head applied to those positions only."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        h, _ = model.features(x)
        m = y != -100
        logits = model.head(h[m])
    return F.cross_entropy(logits.float(), y[m])


def _save(path: str, step: int, model, opt, sched, g: torch.Generator, loss: float, seconds: float) -> None:
    tmp = f"{path}.tmp"
    torch.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "generator": g.get_state(), "loss": loss, "seconds": seconds}, tmp)
    os.replace(tmp, path)  # a kill mid-save leaves the previous file whole


def _load(path: str, model, opt, sched, g: torch.Generator) -> tuple[int, float]:
    """Restore the saved training state; returns (steps done, seconds spent training them)."""
    if not Path(path).exists():
        return 0, 0.0
    state = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    g.set_state(state["generator"].cpu())  # map_location moved it with the weights
    return int(state["step"]), float(state.get("seconds", 0.0))


def trained_seconds(ckpt: str) -> float:
    """Training seconds over every sitting of the run saved in ckpt."""
    return float(torch.load(ckpt, map_location="cpu", weights_only=False).get("seconds", 0.0))


@torch.no_grad()
def answer_accuracy(model: HybridLM, x: torch.Tensor, y: torch.Tensor, autocast: bool = True,
                    batch: int = 250) -> float:
    """Fraction of answer positions (labels != -100) where the full forward's argmax is the label."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    hit = total = 0
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch].to(dev), y[i:i + batch].to(dev)
        m = yb != -100
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast and dev.type == "cuda"):
            h, _ = model.features(xb)
            logits = model.head(h[m])
        hit += int((logits.argmax(-1) == yb[m]).sum())
        total += int(m.sum())
    model.train(was_training)
    return hit / max(total, 1)
