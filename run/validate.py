"""Cross-field and choice checks of a merged RunConfig, run before anything is built or written."""
from __future__ import annotations

from omegaconf import DictConfig

from hybrid.layout import build_layout
from hybrid.train.optim import SCHEDULES
from hybrid.registry import ATTENTION_MIXERS, LINEAR_MIXERS, _load_all
from run.errors import ConfigError, unknown

LOGGERS = ("wandb", "csv", "none")
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
BACKENDS = ("auto", "triton", "torch")


def _choice(key: str, value, valid) -> None:
    if value not in valid:
        raise unknown(f"value for {key}:", value, valid)


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
    _choice("data.name", cfg.data.name, DATAMODULES)
    _choice("data.loss_on", cfg.data.loss_on, LOSS_ON)
    for task in cfg.data.mixture:
        _choice("a task in data.mixture", task, TASKS)
    for key, value in {
        "model.d_model": cfg.model.d_model, "model.n_layers": cfg.model.n_layers, "model.n_heads": cfg.model.n_heads,
        "model.head_dim": cfg.model.head_dim, "data.seq_len": cfg.data.seq_len, "data.batch_size": cfg.data.batch_size,
        "trainer.max_steps": cfg.trainer.max_steps, "optim.lr": cfg.optim.lr,
    }.items():
        if value <= 0:
            raise ConfigError(f"{key}={value} must be > 0")
    if cfg.model.vocab_size is not None and cfg.model.vocab_size <= 0:
        raise ConfigError(f"model.vocab_size={cfg.model.vocab_size} must be > 0 (or null to take the tokenizer's)")
    if cfg.data.name == "synthetic" and cfg.eval.shots:
        raise ConfigError(f"eval.shots={cfg.eval.shots} needs a text run (data=files, data=fineweb_edu); a synthetic "
                          "run trains on the tasks themselves, so set eval.shots=0 or null")
    try:
        build_layout(cfg.model.n_layers, cfg.model.ratio, cfg.model.pattern)
    except ValueError as e:
        raise ConfigError(str(e)) from None
