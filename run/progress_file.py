"""progress.json in the run directory: the step, the step budget and the latest train/loss, rewritten every
trainer.log_every steps, so a study's launcher (or anyone) can show where a run is without parsing its logs."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L


class ProgressFile(L.Callback):
    def __init__(self, run_dir: str | Path, every: int) -> None:
        self.path, self.every = Path(run_dir) / "progress.json", max(1, every)

    def _write(self, trainer: L.Trainer, loss: Any) -> None:
        info = {"step": trainer.global_step, "max_steps": trainer.max_steps, "time": time.time(),
                "loss": float(loss) if loss is not None else None}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(self.path)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.is_global_zero and (trainer.global_step % self.every == 0 or trainer.global_step == 1):
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            self._write(trainer, loss.detach() if hasattr(loss, "detach") else loss)
