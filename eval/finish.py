"""The end of a training run: the probe suite on the trained model, probes.json + plots in the run directory, and
the MiniMax-gap summary printed under the training summary (train.py calls this after fit when eval.at_end)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from eval.report import run_and_report
from eval.suite import examples_per_setting


def probe_after_training(model: torch.nn.Module, cfg: DictConfig, run_dir: Path, step: int) -> dict[str, Any]:
    """Run cfg.eval's suite on `model` (moved back to the GPU the run trained on; Lightning leaves it on the CPU)."""
    on_gpu = cfg.trainer.accelerator != "cpu" and torch.cuda.is_available()
    model.to(torch.device("cuda" if on_gpu else "cpu"))
    eval_cfg = OmegaConf.to_object(cfg.eval)
    meta = {"recipe": cfg.recipe, "size": cfg.size, "name": cfg.name, "step": step, "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if on_gpu else "cpu"}
    n = examples_per_setting(eval_cfg, next(model.parameters()).device)
    print(f"probing: {', '.join(eval_cfg.probes)} ({n} examples per setting)")
    return run_and_report(model, eval_cfg, run_dir, meta, title=f"{cfg.name} step {step}")
