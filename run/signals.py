"""Stopping on a signal without losing work: SIGTERM, SIGINT and Slurm's warning signal (SIGUSR1, or the
SLURMEnvironment's requeue_signal) end the run at the next step boundary, with a checkpoint.

The handler only records the signal. At the end of the training step (on_train_batch_end, where ModelCheckpoint
saves too, so a resume continues bit for bit) the callback saves <ckpt_dir>/last.ckpt and stops the trainer;
train.py then exits with 128 + the signal number, so a scheduler never sees success. Under Slurm with auto-requeue,
the warning signal is handed at that boundary to Lightning's own requeue handler instead (it saves hpc_ckpt_<n>.ckpt
into the checkpoint folder, Trainer(default_root_dir=...), and requeues); the requeued job resumes as with
resume=auto. A second SIGINT interrupts at once.
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal."""
    return 128 + int(signum)


class StopOnSignal(L.Callback):
    """Records SIGTERM / SIGINT / the Slurm warning signal; saves a checkpoint and stops at the next step boundary."""

    def __init__(self, ckpt_dir: str | Path) -> None:
        self.ckpt_dir = Path(ckpt_dir)
        self.signum: int | None = None
        self.saved: Path | None = None
        self._previous: dict[int, object] = {}

    def _signals(self, trainer: L.Trainer) -> list[int]:
        env = trainer._accelerator_connector.cluster_environment
        warning = env.requeue_signal if isinstance(env, SLURMEnvironment) and env.requeue_signal else signal.SIGUSR1
        return [signal.SIGTERM, signal.SIGINT, warning]

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl+C: stop now
        self.signum = signum

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Installed before Lightning's signal connector runs: it adds its SIGTERM bookkeeping on top of ours and,
        # finding a handler for the requeue signal, leaves it to us.
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self._signals(trainer):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore_handlers(self) -> None:
        """Put back the handlers found at setup. Lightning skips teardown hooks when fit ends in an exception (as
        on SIGTERM), and its own teardown re-installs ours, so train.py calls this once fit has returned."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.restore_handlers()

    def _save(self, trainer: L.Trainer) -> None:
        env = trainer._accelerator_connector.cluster_environment
        if isinstance(env, SLURMEnvironment) and env.auto_requeue and self.signum == env.requeue_signal:
            self.saved = Path(trainer._checkpoint_connector.hpc_save_path(trainer.default_root_dir))
            trainer._signal_connector._slurm_sigusr_handler_fn(self.signum, None)  # Lightning's save + requeue
        else:
            self.saved = self.ckpt_dir / "last.ckpt"
            trainer.save_checkpoint(self.saved)
        name = signal.Signals(self.signum).name if self.signum else "a signal"
        rank_zero_info(f"{name}: saved {self.saved} at step {trainer.global_step}; stopping")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches:  # inside an accumulation window: not a step boundary
            return
        stop = self.signum is not None
        if trainer.world_size > 1:  # every rank stops at the same step, whichever got the signal
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop and self.saved is None:
            self.signum = self.signum or signal.SIGTERM
            self._save(trainer)
            trainer.should_stop = True

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        # Lightning ends a SIGTERM that arrives during validation from inside the loop: save there instead.
        if isinstance(exception, SIGTERMException) and self.saved is None:
            self.signum = self.signum or signal.SIGTERM
            self._save(trainer)
