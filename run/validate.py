"""Cross-field and choice checks of a merged RunConfig, run before anything is built or written."""
from __future__ import annotations

from omegaconf import DictConfig

from hybrid.layout import build_layout
from hybrid.train.optim import SCHEDULES
from hybrid.registry import ATTENTION_MIXERS, LINEAR_MIXERS, _load_all
from run.errors import ConfigError, unknown
from run.resume import RESUME

LOGGERS = ("wandb", "csv", "none")
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
BACKENDS = ("auto", "triton", "torch")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def _choice(key: str, value, valid) -> None:
    if value not in valid:
        raise unknown(f"value for {key}:", value, valid)


def strategies() -> list[str]:
    from lightning.pytorch.strategies import StrategyRegistry

    return ["auto", *StrategyRegistry.available_strategies()]


def _check_optim(optim: DictConfig) -> None:
    betas = list(optim.betas)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ConfigError(f"optim.betas={betas} must be two values in [0, 1), e.g. [0.9, 0.95]")
    if not 0.0 <= optim.min_lr_ratio <= 1.0:
        raise ConfigError(f"optim.min_lr_ratio={optim.min_lr_ratio} must be in [0, 1]")
    if not 0.0 < optim.decay_fraction <= 1.0:
        raise ConfigError(f"optim.decay_fraction={optim.decay_fraction} must be in (0, 1]")


def _check_devices(devices: str) -> None:
    text = str(devices)
    ids = [p.strip() for p in text.split(",") if p.strip()]
    if text in ("auto", "-1") or (ids and all(i.isdigit() for i in ids) and (len(ids) > 1 or int(ids[0]) > 0)):
        return
    raise ConfigError(f"trainer.devices={text!r} must be auto, -1 (all), a count such as 2, or device ids as 0,1")


def _cuda_run(cfg: DictConfig) -> bool:
    import torch

    return cfg.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def validate(cfg: DictConfig) -> None:
    from data.build import DATAMODULES
    from data.config import LOSS_ON
    from data.synthetic.tasks import TASKS

    _load_all()
    _choice("model.linear.variant", cfg.model.linear.variant, LINEAR_MIXERS)
    _choice("model.attention.type", cfg.model.attention.type, ATTENTION_MIXERS)
    _choice("optim.schedule", cfg.optim.schedule, SCHEDULES)
    _choice("trainer.logger", cfg.trainer.logger, LOGGERS)
    _choice("trainer.precision", cfg.trainer.precision, PRECISIONS)
    _choice("kernels.backend", cfg.kernels.backend, BACKENDS)
    _choice("trainer.accelerator", cfg.trainer.accelerator, ACCELERATORS)
    _choice("trainer.strategy", cfg.trainer.strategy, strategies())
    _choice("resume", cfg.resume, RESUME)
    _choice("data.name", cfg.data.name, DATAMODULES)
    _choice("data.loss_on", cfg.data.loss_on, LOSS_ON)
    for task in cfg.data.mixture:
        _choice("a task in data.mixture", task, TASKS)
    for key, value in {
        "model.d_model": cfg.model.d_model, "model.n_layers": cfg.model.n_layers, "model.n_heads": cfg.model.n_heads,
        "model.head_dim": cfg.model.head_dim, "data.seq_len": cfg.data.seq_len, "data.batch_size": cfg.data.batch_size,
        "trainer.max_steps": cfg.trainer.max_steps, "optim.lr": cfg.optim.lr, "optim.eps": cfg.optim.eps,
        "trainer.val_every": cfg.trainer.val_every, "trainer.log_every": cfg.trainer.log_every,
        "trainer.ckpt_every": cfg.trainer.ckpt_every, "trainer.max_nonfinite": cfg.trainer.max_nonfinite,
        "trainer.num_nodes": cfg.trainer.num_nodes, "trainer.accumulate": cfg.trainer.accumulate,
    }.items():
        if value <= 0:
            raise ConfigError(f"{key}={value} must be > 0")
    for key, value in {
        "optim.warmup_steps": cfg.optim.warmup_steps, "optim.weight_decay": cfg.optim.weight_decay,
        "optim.grad_clip": cfg.optim.grad_clip, "data.val_batches": cfg.data.val_batches,
        "data.num_workers": cfg.data.num_workers,
    }.items():
        if value < 0:
            raise ConfigError(f"{key}={value} must be >= 0" + (" (0 disables clipping)" if "clip" in key else ""))
    _check_optim(cfg.optim)
    _check_devices(cfg.trainer.devices)
    chunk = cfg.model.linear.chunk_size
    if chunk < 1 or chunk & (chunk - 1):
        raise ConfigError(f"model.linear.chunk_size={chunk} must be a positive power of 2 (e.g. 16, 32, 64)")
    if cfg.kernels.backend == "triton" and not _cuda_run(cfg):
        raise ConfigError("kernels.backend=triton needs a CUDA GPU (this run is on the CPU); use auto or torch")
    if cfg.model.vocab_size is not None and cfg.model.vocab_size <= 0:
        raise ConfigError(f"model.vocab_size={cfg.model.vocab_size} must be > 0 (or null to take the tokenizer's)")
    if cfg.data.name == "synthetic" and cfg.eval.shots:
        raise ConfigError(f"eval.shots={cfg.eval.shots} needs a text run (data=files, data=fineweb_edu); a synthetic "
                          "run trains on the tasks themselves, so set eval.shots=0 or null")
    try:
        build_layout(cfg.model.n_layers, cfg.model.ratio, cfg.model.pattern)
    except ValueError as e:
        raise ConfigError(str(e)) from None
