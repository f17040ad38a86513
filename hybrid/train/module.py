"""The LightningModule that trains a HybridLM: loss, logging, non-finite-loss guard, optimiser and schedule.

Its init arguments are plain dicts so `HybridLMModule.load_from_checkpoint(path)` rebuilds it from the checkpoint alone.
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
        self._skip_update = False
        self._step_losses: list[torch.Tensor] = []  # this optimizer step's micro-batch losses on this rank
        self._grad_norm: torch.Tensor | None = None

    def forward(self, input_ids: torch.Tensor, caches=None, cu_seqlens=None):
        return self.model(input_ids, caches, cu_seqlens)

    def _skip(self, what: str) -> None:
        """Count a skipped step; halt after max_nonfinite in a row."""
        self._skip_update = True
        self.skipped_steps += 1
        self._nonfinite_in_a_row += 1
        rank_zero_warn(f"non-finite {what} at step {self.global_step} ({self._nonfinite_in_a_row} in a row): "
                       "skipping this step (no update, no schedule advance)")
        if self._nonfinite_in_a_row >= self.max_nonfinite:
            raise NonFiniteLossError(
                f"{self._nonfinite_in_a_row} non-finite steps in a row at step {self.global_step}; halting "
                "(lower optim.lr, raise optim.warmup_steps, or check the data)")

    def training_step(self, batch: dict, batch_idx: int):
        self._skip_update = False
        loss = self.model.loss(batch["input_ids"], batch["labels"], batch.get("cu_seqlens"))
        finite = self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss.detach())), all=True)
        rows = batch["input_ids"].shape[0]  # explicit: batches also carry cu_seqlens, which Lightning can't size
        self._step_losses.append(loss.detach())  # logged once per optimizer step, over the global batch
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=rows)
        if not finite:
            self._skip("loss")
            return None  # Lightning skips backward; the optimizer steps over no gradients
        return loss

    def validation_step(self, batch: dict, batch_idx: int):
        loss = self.model.loss(batch["input_ids"], batch["labels"], batch.get("cu_seqlens"))
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def _sharded(self) -> bool:
        return isinstance(self.trainer.strategy, FSDPStrategy)

    def on_before_optimizer_step(self, optimizer) -> None:
        # train/loss: the mean of the step's micro-batch losses over every rank, as DDP, FSDP and accumulation all
        # average their gradients, so one device with trainer.accumulate=N logs what N devices log.
        # Logged even when non-finite: Lightning would otherwise log the previous step's value again as this one's.
        self.log("train/loss", torch.stack(self._step_losses).mean(), prog_bar=True, sync_dist=True)
        self._step_losses = []
        # Logged before clipping, so spikes stay visible.
        grads = [p.grad.detach().float() for p in self.parameters() if p.grad is not None]
        square = torch.stack([g.square().sum() for g in grads]).sum() if grads else torch.zeros((), device=self.device)
        have = bool(grads)
        if self._sharded():  # each rank holds a shard of every gradient: sum the squares over the ranks
            square = self.trainer.strategy.reduce(square, reduce_op="sum")
            have = self.trainer.strategy.reduce_boolean_decision(have, all=False)
        # No gradients: the loss was non-finite and nothing ran backward (logged as NaN, never a stale norm).
        norm = square.sqrt() if have else torch.tensor(math.nan)
        self._grad_norm = norm
        self.log("train/grad_norm", norm)
        if have and not torch.isfinite(norm):  # gradients are all-reduced already: every rank agrees
            self._skip("gradient")
            optimizer.zero_grad(set_to_none=True)  # AdamW leaves parameters without a gradient untouched
        elif have:
            self._nonfinite_in_a_row = 0
        self.log("train/skipped_steps", float(self.skipped_steps))

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by the global norm of on_before_optimizer_step, as torch.nn.utils.clip_grad_norm_ does; also under
        FSDP, whose sharded gradients Lightning's own clipping refuses."""
        norm = self._grad_norm
        if not gradient_clip_val or norm is None or not torch.isfinite(norm):
            return
        scale = (gradient_clip_val / (norm + 1e-6)).clamp(max=1.0)
        for p in self.parameters():
            if p.grad is not None:
                p.grad.detach().mul_(scale.to(p.grad.device, p.grad.dtype))

    def lr_scheduler_step(self, scheduler, metric) -> None:
        if not self._skip_update:  # a skipped step does not advance the schedule
            super().lr_scheduler_step(scheduler, metric)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
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

    def configure_optimizers(self):
        opt, sched = build_optimizer(self.model, self.optim_cfg, self.total_steps, self._no_decay)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
