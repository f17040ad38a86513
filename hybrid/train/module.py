"""The LightningModule that trains a HybridLM: loss, logging, non-finite-loss guard, optimiser and schedule.

Its init arguments are plain dicts so `HybridLMModule.load_from_checkpoint(path)` rebuilds it from the checkpoint alone.

No step waits for the device: the verdict "loss and gradient finite" is computed on the device and handed to the fused
AdamW as its `found_inf` (a non-finite step updates nothing), while the host reads it one step later (or before a
checkpoint) to count the skip, warn, halt, and advance the schedule only over updates. Metrics are logged on log
steps only (trainer.log_every), and the gradient norm is one fused reduction that gradient clipping reuses.
"""
from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.strategies import FSDPStrategy
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import OmegaConf

from hybrid.config import ModelConfig
from hybrid.lm import HybridLM
from hybrid.train.optim import OptimConfig, build_optimizer, name_keyed, no_decay_names


class NonFiniteLossError(RuntimeError):
    """Raised after `max_nonfinite` consecutive non-finite losses: the run is diverging, not glitching."""


def _structured(schema, values) -> object:
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values or {}))


class _Verdict:
    """One step's (non-finite step, non-finite loss) flags on their way to the host, read without stalling later
    steps: a non-blocking copy and an event that marks when it has landed."""

    def __init__(self, step: int, flags: torch.Tensor) -> None:
        self.step = step
        if flags.device.type == "cpu":
            self.host, self.event = flags, None
        else:
            self.host = torch.empty(flags.shape, dtype=flags.dtype, pin_memory=True)  # pinned: the copy is async
            self.host.copy_(flags, non_blocking=True)
            self.event = torch.Event(device=flags.device)
            self.event.record()

    def read(self) -> tuple[bool, bool]:
        if self.event is not None:
            self.event.synchronize()  # waits for this step's work only, never for what was queued after it
        bad, loss_bad = self.host.tolist()
        return bad, loss_bad


class HybridLMModule(L.LightningModule):
    def __init__(self, model: dict, optim: dict, total_steps: int, max_nonfinite: int = 3):
        super().__init__()
        self.save_hyperparameters()
        self.model_cfg: ModelConfig = _structured(ModelConfig, model)
        self.optim_cfg: OptimConfig = _structured(OptimConfig, optim)
        self.total_steps = total_steps
        self.max_nonfinite = max_nonfinite
        self.model = HybridLM(self.model_cfg)
        self._no_decay = no_decay_names(self.model)  # before any FSDP wrapping flattens the shapes
        self._nonfinite_in_a_row = 0
        self.skipped_steps = 0  # steps whose loss or gradient was non-finite: no update, no schedule advance
        self._skipped_on_device: torch.Tensor | None = None  # the same count including steps not yet read back
        self._pending: _Verdict | None = None  # the last step's verdict, not yet read by the host
        self._advance_schedule = True  # whether lr_scheduler_step advances (immediate verdicts only)
        self._step_losses: list[torch.Tensor] = []  # this optimizer step's micro-batch losses on this rank
        self._clip_norm: tuple[list[torch.Tensor], torch.Tensor] | None = None

    def forward(self, input_ids: torch.Tensor, caches=None, cu_seqlens=None):
        return self.model(input_ids, caches, cu_seqlens)

    def _logging_now(self) -> bool:
        """Lightning writes metrics every trainer.log_every steps; the last step's also feed the final summary."""
        trainer = self.trainer
        last = trainer.max_steps is not None and 0 < trainer.max_steps <= self.global_step + 1
        return trainer._logger_connector.should_update_logs or last

    def _skip(self, what: str, step: int) -> None:
        """Count a skipped step; halt after max_nonfinite in a row."""
        self.skipped_steps += 1
        self._nonfinite_in_a_row += 1
        rank_zero_warn(f"non-finite {what} at step {step} ({self._nonfinite_in_a_row} in a row): "
                       "skipping this step (no update, no schedule advance)")
        if self._nonfinite_in_a_row >= self.max_nonfinite:
            raise NonFiniteLossError(
                f"{self._nonfinite_in_a_row} non-finite steps in a row at step {step}; halting "
                "(lower optim.lr, raise optim.warmup_steps, or check the data)")

    def _settle(self, bad: bool, loss_bad: bool, step: int) -> bool:
        """The host's part of a step's verdict; True when the step updated the model."""
        if bad:
            self._skip("loss" if loss_bad else "gradient", step)
            return False
        self._nonfinite_in_a_row = 0
        return True

    def _settle_pending(self) -> None:
        """Read the previous step's deferred verdict; its schedule step is taken only if it updated the model."""
        pending, self._pending = self._pending, None
        if pending is not None and self._settle(*pending.read(), pending.step):
            for config in self.trainer.lr_scheduler_configs:
                config.scheduler.step()

    def training_step(self, batch: dict, batch_idx: int):
        loss = self.model.loss(batch["input_ids"], batch["labels"], batch.get("cu_seqlens"),
                               batch.get("cu_seqlens_host"))
        self._step_losses.append(loss.detach())  # logged once per optimizer step, over the global batch
        # Backward runs whatever the loss: a non-finite loss gives non-finite gradients or is caught with them below.
        return loss

    def validation_step(self, batch: dict, batch_idx: int):
        loss = self.model.loss(batch["input_ids"], batch["labels"], batch.get("cu_seqlens"),
                               batch.get("cu_seqlens_host"))
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def _sharded(self) -> bool:
        return isinstance(self.trainer.strategy, FSDPStrategy)

    def on_before_optimizer_step(self, optimizer) -> None:
        self._settle_pending()  # the previous step's schedule advance comes before this step's update
        losses, self._step_losses = torch.stack(self._step_losses), []
        # One fused norm over this rank's gradients, in the optimizer's order. One collective per step at most: under
        # FSDP each rank holds a shard of every gradient, so the squares are summed over the ranks with the loss
        # verdicts; under DDP the gradients (so the norm) agree already and only the per-rank loss verdicts are summed.
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=losses.device)
        loss_bad = (~torch.isfinite(losses).all()).float()
        if self._sharded():
            square, loss_bad = self.trainer.strategy.reduce(torch.stack([norm.float().square(), loss_bad]),
                                                            reduce_op="sum")
            norm = square.sqrt()
        else:
            if not grads:
                norm = torch.tensor(math.nan, device=losses.device)  # no gradients: nothing ran backward
            if self.trainer.world_size > 1:
                loss_bad = self.trainer.strategy.reduce(loss_bad, reduce_op="sum")
        loss_ok = loss_bad == 0  # every rank agrees on the verdict
        flags = torch.stack([~(loss_ok & torch.isfinite(norm)), ~loss_ok])
        bad = flags[0]
        self._clip_norm = (grads, norm) if grads else None
        if self._skipped_on_device is None:
            self._skipped_on_device = torch.tensor(float(self.skipped_steps), device=norm.device)
        self._skipped_on_device = self._skipped_on_device + bad
        step = self.global_step
        if self._defers(optimizer):
            optimizer.found_inf = bad.float()  # fused AdamW leaves parameters, moments and step count as they are
            self._pending = _Verdict(step, flags)
            self._advance_schedule = False  # _settle_pending advances it once the verdict is read
        else:  # an optimizer without found_inf (or under a GradScaler, which sets its own): decide now
            self._advance_schedule = self._settle(*flags.tolist(), step)
            if not self._advance_schedule:
                optimizer.zero_grad(set_to_none=True)  # AdamW leaves parameters without a gradient untouched
                self._clip_norm = None
        if self._logging_now():
            # train/loss: the mean of the step's micro-batch losses over every rank, as DDP, FSDP and accumulation
            # all average their gradients, so one device with trainer.accumulate=N logs what N devices log. Logged
            # even when non-finite (Lightning would otherwise repeat the previous value), on log steps only.
            self.log("train/loss", losses.mean(), sync_dist=True)
            # Logged before clipping, so spikes stay visible; NaN when the loss was non-finite, never a stale norm.
            self.log("train/grad_norm", torch.where(loss_ok, norm, math.nan))
            self.log("train/lr", optimizer.param_groups[0]["lr"])
            self.log("train/skipped_steps", self._skipped_on_device)

    def _defers(self, optimizer) -> bool:
        return bool(optimizer.defaults.get("fused")) and getattr(self.trainer.precision_plugin, "scaler", None) is None

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by the global norm of on_before_optimizer_step (no second pass over the gradients), as
        torch.nn.utils.clip_grad_norm_ does; also under FSDP, whose sharded gradients Lightning's own clipping
        refuses. A skipped step has nothing to clip."""
        if gradient_clip_val and gradient_clip_algorithm in (None, "norm"):
            if self._clip_norm is not None:
                grads, norm = self._clip_norm
                torch.nn.utils.clip_grads_with_norm_(grads, gradient_clip_val, norm)
        else:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        self._clip_norm = None

    def lr_scheduler_step(self, scheduler, metric) -> None:
        if self._advance_schedule:  # a skipped step does not advance the schedule
            super().lr_scheduler_step(scheduler, metric)

    def on_train_end(self) -> None:
        self._settle_pending()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self._pending is not None:  # the checkpoint holds the schedule (and the lr it set) after its last verdict
            self._settle_pending()
            if "lr_schedulers" in checkpoint:
                trainer = self.trainer
                checkpoint["lr_schedulers"] = [c.scheduler.state_dict() for c in trainer.lr_scheduler_configs]
                checkpoint["optimizer_states"] = [trainer.strategy.optimizer_state(o) for o in trainer.optimizers]
        checkpoint["skipped_steps"] = self.skipped_steps
        # Name-keyed optimizer states, as FSDP writes them: a checkpoint then loads under any strategy.
        if not self._sharded() and checkpoint.get("optimizer_states"):
            name_of = {id(p): n for n, p in self.named_parameters()}
            opts = self.trainer.optimizers
            checkpoint["optimizer_states"] = [
                name_keyed(s, [name_of[id(p)] for g in opt.param_groups for p in g["params"]])
                for s, opt in zip(checkpoint["optimizer_states"], opts)]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.skipped_steps = int(checkpoint.get("skipped_steps", 0))
        self._skipped_on_device = None

    def configure_optimizers(self):
        opt, sched = build_optimizer(self.model, self.optim_cfg, self.total_steps, self._no_decay)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
