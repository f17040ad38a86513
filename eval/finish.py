"""A suite run carried to its report: run the probes, write probes.json + plots, print the MiniMax-gap summary.

`run_and_report` serves `python -m eval`; `probe_after_training` is train.py's end of run (after fit, when
eval.at_end), the summary printed under the training summary."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from eval.config import EvalConfig
from eval.context import ProbeContext, context_from_datamodule
from eval.report.write import output_names, write_report
from eval.suite import Progress, examples_per_setting, run_suite


def probe_after_training(model: torch.nn.Module, cfg: DictConfig, run_dir: Path, step: int,
                         datamodule: Any = None) -> dict[str, Any]:
    """Run cfg.eval's suite on `model` (moved back to the GPU the run trained on; Lightning leaves it on the CPU), in
    the tokens of the `datamodule` it trained on (a text run's tokenizer and held-out text; default: synthetic)."""
    on_gpu = cfg.trainer.accelerator != "cpu" and torch.cuda.is_available()
    model.to(torch.device("cuda" if on_gpu else "cpu"))
    eval_cfg = OmegaConf.to_object(cfg.eval)
    meta = {"recipe": cfg.recipe, "size": cfg.size, "name": cfg.name, "step": step, "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if on_gpu else "cpu"}
    n = examples_per_setting(eval_cfg, next(model.parameters()).device)
    context = context_from_datamodule(datamodule)
    shots = context.shots(eval_cfg.shots)
    print(f"probing: {', '.join(eval_cfg.probes)} ({n} examples per setting"
          f"{f', {shots} worked examples before each query' if shots else ''}; tokens: {context.renderer.name})")
    return run_and_report(model, eval_cfg, run_dir, meta, title=f"{cfg.name} step {step}", context=context)


def run_and_report(
    model: torch.nn.Module, cfg: EvalConfig, run_dir: str | Path, meta: dict[str, Any] | None = None,
    progress: Progress | None = None, title: str = "", context: ProbeContext | None = None,
) -> dict[str, Any]:
    """Run the suite with cfg's budget, write probes.json + plots into run_dir, print the summary; return results."""
    results = run_suite(model, cfg, progress=progress, context=context)
    path, plots, summary = write_report(results, run_dir, cfg.baseline, meta, title=title)
    print(summary)
    print(f"probes: {path} ({len(plots)} plots in {path.parent / output_names(cfg.state_dtype)[1]}, "
          f"{results['elapsed_s']:.1f}s)")
    return results
