"""The run directory <out_dir>/<name>: one name per launch, never another run's files, one owning process.

- The name is chosen once, by the launching process, and reaches every rank through the environment (DDP's spawned
  ranks inherit it; under Slurm every task derives the same one from the job id), so a launch makes one directory.
- A directory that already holds a run is only reused to resume it (`ckpt_path=` or `resume=auto`); otherwise the
  launch stops with a one-line error before touching it.
- The owner holds an exclusive `flock` on <run_dir>/.lock for its lifetime (the kernel drops it when the process dies,
  SIGKILL included), so two processes cannot train into one directory.
"""
from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from run.errors import ConfigError

NAME_ENV = "HYBRID_RUN_NAME"
"""Environment variable carrying the launch's run name to the ranks it spawns."""
LOCK = ".lock"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,=+@-]*")


def check_name(name: str) -> None:
    """A run name is one plain folder name: no path separators, no '..', no leading dot."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(f"name={name!r} must be a plain folder name (letters, digits and _ . , = + @ -, not "
                          f"starting with '.', no '/' or '..'): the run directory is <out_dir>/<name>")


def is_leader() -> bool:
    """True in the process that launches the run (global rank 0, or no rank set yet)."""
    from lightning.fabric.utilities.rank_zero import _get_rank

    return (_get_rank() or 0) == 0


def _job_id() -> str | None:
    """An id every task of a cluster job shares, and which a requeued Slurm job keeps."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    if os.environ.get("SLURM_JOB_ID"):
        return f"slurm{os.environ['SLURM_JOB_ID']}"
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    return run_id if run_id and run_id != "none" else None


def launch_name(cfg: DictConfig) -> str:
    """cfg.name, or the name the launching process chose, or <recipe>-<size>-<job id or timestamp>."""
    if cfg.name:
        return cfg.name
    shared = os.environ.get(NAME_ENV)
    if shared and not is_leader():
        return shared
    return f"{cfg.recipe}-{cfg.size}-{_job_id() or time.strftime('%Y%m%d-%H%M%S')}"


def share_with_ranks(name: str) -> None:
    """Ranks that Lightning spawns re-run train.py with this environment: they take the same name."""
    os.environ[NAME_ENV] = name


def check_out_dir(out_dir: str) -> None:
    """out_dir must be a directory we can create run directories in (or creatable below a writable one)."""
    path = Path(out_dir).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"out_dir={out_dir!r}: {str(probe)!r} is a file, not a directory; pass a directory")
    try:  # access() says yes to root on any filesystem: try it, and leave the folder's times as they were
        times = os.stat(probe)
        tempfile.TemporaryDirectory(dir=probe, prefix=".write-check-").cleanup()
        os.utime(probe, ns=(times.st_atime_ns, times.st_mtime_ns))
    except OSError as e:
        raise ConfigError(f"out_dir={out_dir!r}: {str(probe)!r} is not writable ({e.strerror}); pass a directory "
                          "you can write to") from None


def holds_run(run_dir: Path) -> bool:
    """Whether run_dir has anything in it besides its lock file."""
    return run_dir.is_dir() and any(p.name != LOCK for p in run_dir.iterdir())


def check_clash(run_dir: Path, resuming: bool) -> None:
    """A directory that holds a run is reused only to resume it. Reads, never writes."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run dir {str(run_dir)!r} is a file; pass another name=")
    if holds_run(run_dir) and not resuming:
        raise ConfigError(f"run dir {str(run_dir)!r} already holds a run; pass resume=auto to continue it, "
                          f"ckpt_path=<one of its checkpoints> to resume from one, or a new name=")


class RunDirLock:
    """An exclusive flock on <run_dir>/.lock, held until release() or the end of the process."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(self._fd, 32).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            self._fd = None
            raise ConfigError(f"run dir {str(run_dir)!r} is in use by another process (pid {owner}); wait for it "
                              "to finish or pass another name=") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


_held: dict[Path, RunDirLock] = {}


def release(run_dir: Path) -> None:
    """Give up this process's lock on run_dir (the end of the process does it too)."""
    lock = _held.pop(Path(run_dir), None)
    if lock is not None:
        lock.release()


def claim(run_dir: Path, resuming: bool) -> RunDirLock:
    """Create run_dir if needed and lock it; re-checks the clash rule under the lock (another launch may have won).
    The lock is held until release(run_dir) or the end of the process."""
    existed = run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunDirLock(run_dir)
    try:
        check_clash(run_dir, resuming)
    except ConfigError:
        lock.release()
        if not existed:  # we made it, and someone else's run landed in it meanwhile: leave only theirs
            lock.path.unlink(missing_ok=True)
        raise
    _held[Path(run_dir)] = lock
    return lock


def write_config(run_dir: Path, cfg: DictConfig) -> Path:
    """Write the resolved config to config.yaml (atomically); a resume with a different config keeps the earlier
    one as config.<n>.yaml, so the run's history stays readable."""
    text = OmegaConf.to_yaml(cfg)
    path = run_dir / "config.yaml"
    if path.is_file() and path.read_text() != text:
        n = 1
        while (run_dir / f"config.{n}.yaml").exists():
            n += 1
        path.replace(run_dir / f"config.{n}.yaml")
    tmp = run_dir / "config.yaml.tmp"
    tmp.write_text(text)
    tmp.replace(path)
    return path
