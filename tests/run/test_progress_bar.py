"""The progress bar shows the training metrics without reading any logged value to the host between log steps."""
from __future__ import annotations

import lightning as L
import torch

from run.progress_bar import SHOWN, progress_bar
from tests.hybrid.train.test_module_nonfinite import _Memory, _parts


class _ItemCalls(L.Callback):
    """Tensor.item() calls (how Lightning turns a logged tensor into a number) per training step."""

    def __init__(self, monkeypatch) -> None:
        self.per_step: dict[int, int] = {}
        real = torch.Tensor.item

        def item(t):
            if self.step is not None:
                self.per_step[self.step] = self.per_step.get(self.step, 0) + 1
            return real(t)

        self.step: int | None = None
        monkeypatch.setattr(torch.Tensor, "item", item)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.step = trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        self.step = None


def test_metrics_reach_the_host_on_log_steps_only_and_the_bar_shows_them(monkeypatch):
    from hybrid.train.throughput import ThroughputMonitor

    module, dm = _parts()
    calls = _ItemCalls(monkeypatch)
    bar = progress_bar(every=3)
    trainer = L.Trainer(max_steps=6, accelerator="cpu", logger=_Memory(), log_every_n_steps=3,
                        callbacks=[ThroughputMonitor(log_every=3), bar, calls], enable_checkpointing=False,
                        enable_model_summary=False, limit_val_batches=0, gradient_clip_val=1.0)
    trainer.fit(module, datamodule=dm)
    busy = sorted(step for step, n in calls.per_step.items() if n)
    assert busy and set(busy) <= {2, 5}, calls.per_step  # steps 2 and 5 are the log steps (every 3rd)
    shown = bar.get_metrics(trainer, module)
    assert set(SHOWN) <= set(shown) and all(isinstance(shown[k], float) for k in SHOWN)
