"""Run the probe suite on a model: every chosen probe's grid, scored and sliced, plus the regular-prompt loss.

This is the one function the CLI, the training callback and train.py share; it leaves the model as it found it
(train/eval mode) and works on whatever device the model is on.
"""
from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from eval.config import DEFAULT_EXAMPLES, PRECISIONS, EvalConfig
from eval.probes import get_probe
from eval.probes.base import Case
from eval.context import DEFAULT_SHOTS, WORDS, ProbeContext
from eval.scoring.regular import KINDS, check_kinds, regular_loss, text_loss
from eval.scoring.score import score_cases
from eval.scoring.slices import summarize
from eval.scoring.state_precision import storage_dtype
from eval.report.summary import load_results

Progress = Callable[[str, int, int], None]
"""progress(what, done, total): called after each batch with cases done and cases in the whole run."""


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast under 'bf16', and under 'auto' on CUDA (as training runs there); fp32 otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"eval.precision={precision!r} is unknown; valid: {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_config(cfg: EvalConfig) -> None:
    """Raise ValueError (one line, naming the bad value and the valid ones) for an unusable EvalConfig.

    Reads attributes only, so the `eval` node of a RunConfig DictConfig works as well as an EvalConfig."""
    for name in cfg.probes:
        get_probe(name)
    storage_dtype(cfg.state_dtype)
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"eval.precision={cfg.precision!r} is unknown; valid: {', '.join(PRECISIONS)}")
    if cfg.examples is not None and cfg.examples < 1:
        raise ValueError(f"eval.examples={cfg.examples} must be >= 1 (or null: by device)")
    for key in ("callback_examples", "batch_size", "segment"):
        if getattr(cfg, key) < 1:
            raise ValueError(f"eval.{key}={getattr(cfg, key)} must be >= 1")
    if cfg.shots is not None and cfg.shots < 0:
        raise ValueError(f"eval.shots={cfg.shots} must be >= 0 (or null: {DEFAULT_SHOTS} on a text run trained "
                         "without tasks, else 0)")
    for key in ("every", "regular_docs"):
        if getattr(cfg, key) < 0:
            raise ValueError(f"eval.{key}={getattr(cfg, key)} must be >= 0")
    check_kinds(cfg.regular_kinds)
    if cfg.baseline:
        load_results(cfg.baseline)  # a missing baseline fails before the run, not after it


def examples_per_setting(cfg: EvalConfig, device: torch.device) -> int:
    """cfg.examples, or the device's default budget when it is None."""
    if cfg.examples is not None:
        return cfg.examples
    return DEFAULT_EXAMPLES.get(device.type, DEFAULT_EXAMPLES["cuda"])


def run_suite(
    model: torch.nn.Module,
    cfg: EvalConfig,
    examples: int | None = None,
    probes: Sequence[str] | None = None,
    progress: Progress | None = None,
    context: ProbeContext | None = None,
) -> dict[str, Any]:
    """Score `probes` (default cfg.probes) with `examples` per setting (default: examples_per_setting) on `model`,
    in the tokens of `context` (default: the synthetic word vocabulary; eval/context.py).

    Returns {"probes": {name: report}, "regular": {...losses}, "config": {...}, "elapsed_s": float}.
    """
    check_config(cfg)
    context = context or WORDS
    shots = context.shots(cfg.shots)
    names = list(cfg.probes if probes is None else probes)
    dtype = storage_dtype(cfg.state_dtype)
    device = next(model.parameters()).device
    n = examples_per_setting(cfg, device) if examples is None else examples
    start = time.perf_counter()

    chosen = [get_probe(name) for name in names]
    cases: dict[str, list[Case]] = {
        p.name: [c for s in p.settings for c in p.cases(s, n, cfg.seed, shots)] for p in chosen
    }
    total = sum(len(c) for c in cases.values())
    done = 0

    was_training = model.training
    model.eval()
    results: dict[str, Any] = {"probes": {}}
    try:
        with torch.no_grad(), autocast_for(device, cfg.precision):
            for probe in chosen:
                def tick(k: int, name: str = probe.name) -> None:
                    nonlocal done
                    done += k
                    if progress is not None:
                        progress(name, done, total)

                rows = score_cases(model, cases[probe.name], device, cfg.batch_size, dtype, cfg.segment, tick,
                                   context.renderer)
                results["probes"][probe.name] = summarize(probe, rows)
            if progress is not None:
                progress("regular-prompt loss", done, total)
            if not cfg.regular_docs:
                results["regular"] = {"loss": math.nan}
            elif context.heldout_texts is not None:
                results["regular"] = text_loss(model, context.heldout_documents(cfg.regular_docs),
                                               context.renderer.pad_id, device, cfg.batch_size)
            else:
                results["regular"] = regular_loss(model, cfg.regular_docs, cfg.seed, device, cfg.batch_size,
                                                  cfg.regular_kinds)
    finally:
        model.train(was_training)
    text = context.heldout_texts is not None
    results["config"] = {"examples": n, "seed": cfg.seed, "state_dtype": cfg.state_dtype, "segment": cfg.segment,
                         "tokens": context.renderer.name, "shots": shots,
                         "regular_kinds": ["heldout_text"] if text else list(cfg.regular_kinds or KINDS),
                         "precision": cfg.precision, "probes": names}
    results["elapsed_s"] = time.perf_counter() - start
    return results


def headline_key(headline: str) -> str:
    """A headline's name as a metric key: 'single needle, train lengths' -> 'single_needle_train_lengths'."""
    return re.sub(r"[^0-9A-Za-z]+", "_", headline).strip("_")


def flat_metrics(results: dict[str, Any]) -> dict[str, float]:
    """probe/<name>/<slice> and probe/<name>/<headline_key> -> accuracy, plus probe/regular/<kind>_loss losses (and
    probe/regular/text_perplexity on a text run): what the loggers receive."""
    out = {}
    for name, report in results["probes"].items():
        for slice_name, acc in report["slices"].items():
            if acc["n"]:
                out[f"probe/{name}/{slice_name}"] = float(acc["accuracy"])
        for head, acc in report.get("headlines", {}).items():
            if acc["n"]:
                out[f"probe/{name}/{headline_key(head)}"] = float(acc["accuracy"])
    for kind, loss in results.get("regular", {}).items():
        if loss is not None and not math.isnan(loss):
            key = kind if kind == "loss" or kind.endswith("perplexity") else f"{kind}_loss"
            out[f"probe/regular/{key}"] = float(loss)
    return out
