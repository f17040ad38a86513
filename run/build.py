"""Builders: a validated RunConfig -> run directory, DataModule, LightningModule, loggers, callbacks, Trainer.

Data flows one way: recipe -> config -> these builders -> Trainer. Parts don't reach into each other.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

import kernels
from hybrid.train.module import HybridLMModule
from hybrid.train.throughput import ThroughputMonitor
from run.checkpoint_io import AtomicCheckpointIO, remove_partials
from run.progress_bar import progress_bar
from run.progress_file import ProgressFile
from run.run_dir import claim, is_leader, launch_name, write_config
from run.signals import StopOnSignal
from run.strategy import build_strategy


def run_name(cfg: DictConfig) -> str:
    return launch_name(cfg)


def make_run_dir(cfg: DictConfig, resuming: bool = False) -> Path:
    """Claim <out_dir>/<name> (run/run_dir.py: clash rule, lock held for the process) and write the resolved config
    there (only once the config is known to be valid); temporary files of killed checkpoint writes are removed."""
    run_dir = Path(cfg.out_dir) / cfg.name
    claim(run_dir, resuming)
    remove_partials(run_dir / "checkpoints")
    write_config(run_dir, cfg)
    return run_dir


def on_gpu(cfg: DictConfig) -> bool:
    accelerator = cfg.trainer.accelerator
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def precision(cfg: DictConfig) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    return "bf16-mixed" if on_gpu(cfg) else "32-true"


def build_module(cfg: DictConfig, vocab_size: int) -> HybridLMModule:
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if model["vocab_size"] is None:
        model["vocab_size"] = vocab_size
    elif model["vocab_size"] < vocab_size:
        raise ValueError(f"model.vocab_size={model['vocab_size']} is smaller than the tokenizer's {vocab_size}; "
                         f"set model.vocab_size>={vocab_size} or null")
    kernels.set_backend(cfg.kernels.backend)
    return HybridLMModule(model=model, optim=OmegaConf.to_container(cfg.optim, resolve=True),
                          total_steps=cfg.trainer.max_steps, max_nonfinite=cfg.trainer.max_nonfinite)


WANDB_ID = "wandb_id"
"""File in the run directory holding its W&B run id: every launch of the run (a resume too) logs to that one run."""


def wandb_run_id(run_dir: Path) -> str | None:
    """The run directory's W&B id, made by the leader on the first launch (written atomically); a resumed launch reads
    it back, so its offline files sync into the same W&B run. Other ranks log nothing and need none."""
    path = run_dir / WANDB_ID
    if path.is_file():
        return path.read_text().strip()
    if not is_leader():
        return None
    run_id = secrets.token_hex(4)
    tmp = path.with_name(WANDB_ID + ".tmp")
    tmp.write_text(run_id + "\n")
    os.replace(tmp, path)
    return run_id


def build_logger(cfg: DictConfig, run_dir: Path):
    kind = cfg.trainer.logger
    if kind == "none":
        return False
    if kind == "csv":
        from run.csv_log import AppendingCSVLogger

        return AppendingCSVLogger(save_dir=str(run_dir), name="", version="")
    from lightning.pytorch.loggers import WandbLogger

    m = cfg.model
    online = os.environ.get("WANDB_MODE", "offline") == "online"
    return WandbLogger(
        project=cfg.trainer.wandb_project, name=cfg.name, save_dir=str(run_dir), offline=not online,
        id=wandb_run_id(run_dir), resume="allow",
        group=cfg.trainer.wandb_group or cfg.recipe,
        tags=list(dict.fromkeys([cfg.recipe, f"ratio={m.ratio}", f"linear={m.linear.variant}",
                                 f"attention={m.attention.type}", f"size={cfg.size}", *cfg.trainer.wandb_tags])),
        config=OmegaConf.to_container(cfg, resolve=True),
    )


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    # A resume that falls back to an older checkpoint saves the same steps again: overwrite, never step...-v1.ckpt.
    callbacks: list[L.Callback] = [
        ModelCheckpoint(dirpath=str(run_dir / "checkpoints"), every_n_train_steps=cfg.trainer.ckpt_every,
                        save_last=True, save_top_k=-1, filename="step{step:06d}", auto_insert_metric_name=False,
                        enable_version_counter=False),
        StopOnSignal(run_dir / "checkpoints"),
        ThroughputMonitor(log_every=cfg.trainer.log_every, peak_tflops=cfg.trainer.peak_tflops),
        ProgressFile(run_dir, cfg.trainer.log_every),
    ]
    if cfg.trainer.logger != "none":
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if cfg.eval.every > 0:
        from eval.callback import ProbeCallback

        callbacks.append(ProbeCallback(OmegaConf.to_object(cfg.eval)))
    if cfg.trainer.progress_bar:
        callbacks.append(progress_bar(cfg.trainer.log_every))
    return callbacks


def build_trainer(cfg: DictConfig, run_dir: Path, extra_callbacks: list[L.Callback] | None = None) -> L.Trainer:
    devices = cfg.trainer.devices
    devices = int(devices) if str(devices).isdigit() else devices
    return L.Trainer(
        max_steps=cfg.trainer.max_steps,
        accelerator=cfg.trainer.accelerator, devices=devices, num_nodes=cfg.trainer.num_nodes,
        strategy=build_strategy(cfg, on_gpu(cfg)), precision=precision(cfg),
        accumulate_grad_batches=cfg.trainer.accumulate,
        gradient_clip_val=cfg.optim.grad_clip or None,  # applied by HybridLMModule (one global norm, FSDP too)
        val_check_interval=cfg.trainer.val_every, check_val_every_n_epoch=None,
        log_every_n_steps=cfg.trainer.log_every,
        logger=build_logger(cfg, run_dir),
        callbacks=build_callbacks(cfg, run_dir) + list(extra_callbacks or []),
        enable_progress_bar=cfg.trainer.progress_bar,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(run_dir / "checkpoints"),  # where Lightning's Slurm requeue saves hpc_ckpt_<n>.ckpt
        num_sanity_val_steps=0,
    )
