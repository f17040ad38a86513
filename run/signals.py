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

import re
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException


@contextmanager
def _worker_deaths_held():
    """A stop signal sent to the whole process group (Slurm, `timeout`, Ctrl-C) also kills the DataLoader workers, and
    the DataLoader raises from its SIGCHLD handler, at whatever line runs, mid-save included. Hold SIGCHLD off while
    saving; the next fetch still reports the dead workers, and fit ends as stopped (StopOnSignal.stopped_by)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, previous)


_STOP_SIGNALS = {signal.strsignal(s): s for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)}


def worker_stop_signal(exception: BaseException) -> int | None:
    """The stop signal a DataLoader worker died of, from the DataLoader's error ('DataLoader worker (pid N) is killed
    by signal: Terminated.'), or None (another error, or a signal that is no stop request, such as the OOM killer's
    SIGKILL). A signal sent to the whole process group can kill a worker before this process's own handler has run."""
    if not isinstance(exception, RuntimeError):
        return None
    found = re.search(r"DataLoader worker \(pid \d+\) is killed by signal: ([^.]+)\.", str(exception))
    return _STOP_SIGNALS.get(found.group(1)) if found else None


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
        with _worker_deaths_held():
            if isinstance(env, SLURMEnvironment) and env.auto_requeue and self.signum == env.requeue_signal:
                path = Path(trainer._checkpoint_connector.hpc_save_path(trainer.default_root_dir))
                trainer._signal_connector._slurm_sigusr_handler_fn(self.signum, None)  # Lightning's save + requeue
            else:
                path = self.ckpt_dir / "last.ckpt"
                trainer.save_checkpoint(path)
        self.saved = path  # only once written: a save cut short is retried in on_exception
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

    def stopped_by(self, exception: BaseException) -> bool:
        """The exception is how a stop signal ended fit: Lightning's SIGTERMException (a SIGTERM during validation),
        or the DataLoader's workers dying of a signal sent to the whole process group (Slurm, `timeout`, Ctrl-C)
        while this process still had a step to finish, also before its own handler has recorded the signal."""
        if isinstance(exception, SIGTERMException) or worker_stop_signal(exception) is not None:
            return True
        return self.signum is not None and isinstance(exception, RuntimeError) and "DataLoader worker" in str(
            exception)

    def record_stop(self, exception: BaseException) -> None:
        """Fit ended by a stop signal (stopped_by): the signal is the one recorded, else the one a DataLoader worker
        died of before the handler ran, else SIGTERM."""
        self.signum = self.signum or worker_stop_signal(exception) or signal.SIGTERM

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        # Fit ended from inside the loop by a stop signal: save the last finished step's state there instead.
        if self.stopped_by(exception) and self.saved is None:
            self.record_stop(exception)
            self._save(trainer)
