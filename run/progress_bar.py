"""The console progress bar, its metrics read on log steps only.

Lightning turns every metric logged with prog_bar=True into a Python number after every training step (`.item()`:
one GPU synchronisation each, so the host stops queueing work until the device catches up), even with no bar shown.
So the training metrics are logged without prog_bar, and this bar reads the ones it shows (SHOWN) from the trainer's
callback metrics every trainer.log_every steps, when the loggers read them anyway; its step counter moves every step.
"""
from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar

SHOWN = ("train/loss", "perf/tokens_per_s")


class _ShowsTrainingMetrics:
    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        for key in SHOWN:
            if (value := trainer.callback_metrics.get(key)) is not None:
                metrics[key] = float(value)
        return metrics


class _Rich(_ShowsTrainingMetrics, RichProgressBar):
    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not self.is_disabled and self.train_progress_bar_id is None:  # as Lightning's: a mid-epoch resume
            self._initialize_train_progress_bar_id()
        self._update(self.train_progress_bar_id, batch_idx + 1)
        if (batch_idx + 1) % self.every == 0:
            self._update_metrics(trainer, pl_module)
        self.refresh()


class _TQDM(_ShowsTrainingMetrics, TQDMProgressBar):
    pass


def progress_bar(every: int) -> ProgressBar:
    """Rich's bar when rich is installed, else tqdm's (whose refresh_rate is in steps); metrics every `every` steps."""
    every = max(1, every)
    try:
        return _Rich(every)
    except ModuleNotFoundError:
        return _TQDM(refresh_rate=every)
