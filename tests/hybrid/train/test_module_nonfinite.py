"""Non-finite steps: no update, no schedule advance, a train/skipped_steps count, and no stale loss in the logs."""
from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers.logger import Logger

from data.synthetic.datamodule import SyntheticDataModule
from hybrid.train.module import HybridLMModule, NonFiniteLossError
from hybrid.train.optim import lr_factor
from run.load import load_run_config

STEPS = 6


class _Memory(Logger):
    """Keeps every logged row: step -> metrics."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, dict[str, float]] = {}

    name, version = "memory", "0"

    def log_metrics(self, metrics, step=None) -> None:
        self.rows.setdefault(step, {}).update(metrics)

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


def _parts(max_nonfinite: int = 3):
    cfg = load_run_config(["recipe=kda_3to1", "size=tiny", "model.n_layers=4", "data.seq_len=32", "data.batch_size=2",
                           f"trainer.max_steps={STEPS}", "optim.warmup_steps=2"])
    from omegaconf import OmegaConf

    module = HybridLMModule(model={**OmegaConf.to_container(cfg.model), "vocab_size": 768},
                            optim=OmegaConf.to_container(cfg.optim), total_steps=STEPS, max_nonfinite=max_nonfinite)
    return module, SyntheticDataModule(cfg.data)


def _trainer(logger, callbacks=(), accelerator: str = "cpu", precision: str = "32-true") -> L.Trainer:
    return L.Trainer(max_steps=STEPS, accelerator=accelerator, precision=precision, logger=logger, log_every_n_steps=1,
                     callbacks=list(callbacks), enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, limit_val_batches=0, gradient_clip_val=1.0)


class _BadAt(L.Callback):
    """A NaN loss at step `loss_step` and an inf gradient at step `grad_step`."""

    def __init__(self, loss_step: int, grad_step: int) -> None:
        self.loss_step, self.grad_step = loss_step, grad_step

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.loss_step:
            batch["labels"] = batch["labels"].clone()
            module._poison = True

    def on_after_backward(self, trainer, module) -> None:
        if trainer.global_step == self.grad_step:
            next(module.parameters()).grad.fill_(math.inf)


@pytest.fixture(params=["fused", "unfused"])
def optimizer_kind(request, monkeypatch):
    """fused: the verdict reaches the optimizer on the device and the host reads it a step later; unfused: the
    host decides at once (an optimizer without found_inf)."""
    if request.param == "unfused":
        monkeypatch.setattr("hybrid.train.optim._get_fused_kernels_supported_devices", lambda: [])
    return request.param


class _Snapshots(L.Callback):
    """Parameters and AdamW moments after every optimizer step, and the step each deferred verdict was read at."""

    def __init__(self) -> None:
        self.params: dict[int, list[torch.Tensor]] = {}
        self.moments: dict[int, list[torch.Tensor]] = {}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        opt = trainer.optimizers[0]
        self.params[trainer.global_step] = [p.detach().clone() for p in module.parameters()]
        self.moments[trainer.global_step] = [opt.state[p]["exp_avg"].clone() for p in module.parameters()
                                             if "exp_avg" in opt.state[p]]


def test_skipped_steps_make_no_update_keep_the_schedule_and_are_counted(monkeypatch, optimizer_kind):
    _skipped_steps_case(monkeypatch, optimizer_kind, "cpu", "32-true")


@pytest.mark.gpu
def test_on_cuda_skipped_steps_make_no_update_and_are_counted(monkeypatch):
    _skipped_steps_case(monkeypatch, "fused", "cuda", "bf16-mixed")


def _skipped_steps_case(monkeypatch, optimizer_kind: str, accelerator: str, precision: str) -> None:
    module, dm = _parts()
    real_loss = module.model.loss

    def loss(*args, **kwargs):
        out = real_loss(*args, **kwargs)
        if getattr(module, "_poison", False):
            module._poison = False
            return out * math.nan
        return out

    monkeypatch.setattr(module.model, "loss", loss)
    logger = _Memory()
    snapshots = _Snapshots()
    trainer = _trainer(logger, [_BadAt(loss_step=2, grad_step=4), snapshots], accelerator, precision)
    trainer.fit(module, datamodule=dm)
    assert isinstance(trainer.optimizers[0], torch.optim.AdamW)
    assert bool(trainer.optimizers[0].defaults["fused"]) == (optimizer_kind == "fused")

    assert module.skipped_steps == 2
    # a skipped step leaves every parameter and (fused) every moment as the step before left it
    for bad in (2, 4):
        after, before = snapshots.params[bad + 1], snapshots.params[bad]  # global_step counts optimizer calls
        assert all(torch.equal(a, b) for a, b in zip(after, before))
        if optimizer_kind == "fused":
            assert all(torch.equal(a, b) for a, b in zip(snapshots.moments[bad + 1], snapshots.moments[bad]))
    assert not torch.equal(snapshots.params[4][0], snapshots.params[3][0])  # a finite step does update
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.last_epoch == STEPS - 2  # the two skipped steps did not advance the schedule
    assert all(torch.isfinite(p).all() for p in module.parameters())
    rows = logger.rows
    # each row says what happened at its step, never the previous step's values again
    assert rows[2]["train/skipped_steps"] == 1
    assert math.isnan(rows[2]["train/loss"]) and math.isnan(rows[2]["train/grad_norm"])
    assert rows[4]["train/skipped_steps"] == 2 and math.isinf(rows[4]["train/grad_norm"])
    assert math.isfinite(rows[4]["train/loss"]) and rows[4]["train/loss"] != rows[3]["train/loss"]
    assert rows[3]["train/skipped_steps"] == 1 and math.isfinite(rows[3]["train/grad_norm"])
    # step 3 trains at the lr step 2 would have had: the schedule counts updates, not batches
    cfg = module.optim_cfg
    assert rows[3]["train/lr"] == pytest.approx(cfg.lr * lr_factor(2, STEPS, cfg))
    assert rows[5]["train/lr"] == pytest.approx(cfg.lr * lr_factor(3, STEPS, cfg))


def test_max_nonfinite_in_a_row_halts(optimizer_kind):
    module, dm = _parts(max_nonfinite=2)
    module.model.loss = lambda *a, **k: torch.tensor(math.nan, requires_grad=True)
    with pytest.raises(NonFiniteLossError, match="2 non-finite steps in a row"):
        _trainer(_Memory()).fit(module, datamodule=dm)


def test_the_host_reads_a_fused_steps_verdict_one_step_later(monkeypatch):
    """No step waits for its own verdict: step N's is read at step N+1's optimizer step (the last one at the end)."""
    from hybrid.train import module as module_py

    read_at: list[tuple[int, int]] = []
    real_read = module_py._Verdict.read

    def read(self):
        read_at.append((self.step, trainer.global_step))
        return real_read(self)

    monkeypatch.setattr(module_py._Verdict, "read", read)
    module, dm = _parts()
    trainer = _trainer(_Memory())
    trainer.fit(module, datamodule=dm)
    assert read_at == [(n, n + 1) for n in range(STEPS - 1)] + [(STEPS - 1, STEPS)]


def test_metrics_are_logged_on_log_steps_only():
    module, dm = _parts()
    logger = _Memory()
    trainer = L.Trainer(max_steps=STEPS, accelerator="cpu", logger=logger, log_every_n_steps=2,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, gradient_clip_val=1.0)
    logged = []
    real_log = module.log

    def log(name, *args, **kwargs):
        logged.append((module.global_step, name))
        return real_log(name, *args, **kwargs)

    module.log = log
    trainer.fit(module, datamodule=dm)
    assert sorted({step for step, _ in logged}) == [1, 3, 5]  # Lightning writes at steps 1, 3, 5 (every 2nd)
    assert {name for _, name in logged} == {"train/loss", "train/grad_norm", "train/lr", "train/skipped_steps"}
    assert sorted(step for step in logger.rows if "train/loss" in logger.rows[step]) == [1, 3, 5]
