"""ProbeCallback: a small budget of the probe suite every N optimizer steps during training.

Logs probe/<name>/<slice> accuracies and probe/regular/* losses to every logger of the trainer; a WandbLogger also
gets the summary as a table and the plots as images. Runs on global rank 0 only, on the full weights
(hybrid/train/full_model.py: DDP's own copy, or FSDP's shards gathered into a copy), in eval mode and without
gradients, then hands the model back in train mode.
"""
from __future__ import annotations

import tempfile
from typing import Any

import lightning as L

from eval.config import EvalConfig
from hybrid.train.full_model import full_model
from eval.context import ProbeContext, context_from_datamodule
from eval.report.plots import plot_run
from eval.suite import check_config, flat_metrics, run_suite
from eval.report.summary import gap_rows, load_results


class ProbeCallback(L.Callback):
    """Run `cfg.probes` with `cfg.callback_examples` per setting every `cfg.every` optimizer steps."""

    def __init__(self, cfg: EvalConfig) -> None:
        super().__init__()
        check_config(cfg)
        if cfg.every < 1:
            raise ValueError(f"eval.every={cfg.every}: the probe callback needs a period >= 1 step")
        self.cfg = cfg
        self.last_step = -1
        self.last_results: dict[str, Any] | None = None
        """The most recent suite results (for tests and for other callbacks)."""
        self._baseline = load_results(cfg.baseline) if cfg.baseline else None
        self.context: ProbeContext | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        # With gradient accumulation several batches end on one step: probe it once.
        if step == 0 or step % self.cfg.every or step == self.last_step:
            return
        self.last_step = step
        model = full_model(trainer, pl_module)  # every rank: gathering FSDP's shards is a collective
        if not trainer.is_global_zero:
            return
        if self.context is None:  # the run's tokens: its DataModule's tokenizer on a text run
            self.context = context_from_datamodule(getattr(trainer, "datamodule", None))
        results = run_suite(model, self.cfg, examples=self.cfg.callback_examples, context=self.context)
        self.last_results = results
        metrics = flat_metrics(results)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
            if _is_wandb(logger):
                self._log_wandb(logger, results, step)

    def _log_wandb(self, logger: Any, results: dict[str, Any], step: int) -> None:
        rows = gap_rows(results, self._baseline)
        logger.log_table(key="probe/summary", columns=["metric", "value", "baseline", "ratio"],
                         data=[[r["metric"], r["value"], r["baseline"], r["ratio"]] for r in rows], step=step)
        with tempfile.TemporaryDirectory() as tmp:
            paths = plot_run(results, tmp, title=f"step {step}")
            if paths:
                logger.log_image(key="probe/plots", images=[str(p) for p in paths], step=step,
                                 caption=[p.stem for p in paths])


def _is_wandb(logger: Any) -> bool:
    try:
        from lightning.pytorch.loggers import WandbLogger
    except ImportError:  # pragma: no cover - lightning always ships it
        return False
    return isinstance(logger, WandbLogger)
