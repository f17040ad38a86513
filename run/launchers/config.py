"""LauncherConfig: how a study's cells are run. Set in a study's `launcher:` block or as `launcher.<key>=value`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional  # noqa: UP035 -- typing generics, as the structured-config convention asks

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from run.errors import ConfigError, closest

KINDS = ("local", "slurm")


@dataclass
class LauncherConfig:
    """Where and how the cells run; every field is a `launcher.<field>=value` override."""

    kind: str = "local"
    """local (this machine) | slurm (one job per cell, through submitit); `launcher=slurm` sets it."""
    jobs_per_gpu: int = 1
    """Local: cells sharing one GPU at a time (size=small leaves an H100 mostly idle, so 3-4 fit)."""
    cpu_jobs: int = 1
    """Local without a GPU: cells at a time on the CPU."""
    live: Optional[bool] = None  # noqa: UP045
    """Local: the live progress table (rich); None: when stdout is a terminal, else one line per state change."""
    partition: Optional[str] = None  # noqa: UP045
    """Slurm partition (None: the cluster's default)."""
    account: Optional[str] = None  # noqa: UP045
    """Slurm account to charge (None: the user's default)."""
    time_min: int = 60
    """Slurm time limit per cell in minutes; a cell still running then is warned, saves and requeues."""
    gpus_per_cell: int = 1
    """Slurm: GPUs per cell, one task each (srun --ntasks-per-node); also the cell's trainer.devices; 0: CPU cells."""
    cpus_per_task: Optional[int] = None  # noqa: UP045
    """Slurm CPUs per task (data workers need some); None: the cluster's default."""
    mem_gb: Optional[float] = None  # noqa: UP045
    """Slurm memory per node in GB; None: the cluster's default."""
    signal_delay_s: int = 90
    """Slurm sends SIGUSR1 this many seconds before the time limit: the cell checkpoints and requeues itself."""
    extra_sbatch: List[str] = field(default_factory=list)  # noqa: UP006
    """More sbatch options, one `--key=value` each (e.g. ["--qos=high", "--constraint=h100"])."""
    setup: List[str] = field(default_factory=list)  # noqa: UP006
    """Shell lines the job runs before the cell (e.g. ["module load cuda", "source .venv/bin/activate"])."""
    array_parallelism: int = 64
    """Slurm: most cells of the study's job array running at once."""
    wait: bool = True
    """Slurm: wait for the cells and write the report (false: submit and return; relaunch later for the report)."""
    poll_s: float = 5.0
    """Seconds between looks at the cells' state."""


def launcher_config(defaults: dict[str, Any], overrides: dict[str, str]) -> LauncherConfig:
    """The study's `launcher:` block, then `launcher.<key>=value` overrides, checked against LauncherConfig."""
    cfg = OmegaConf.structured(LauncherConfig)
    valid = list(cfg.keys())
    for source, update in (("study launcher", defaults), ("command line", overrides)):
        for key in update:
            if key not in valid:
                hits = closest(key, valid)
                hint = f"; did you mean {' or '.join(repr('launcher.' + h) for h in hits)}?" if hits else ""
                raise ConfigError(f"{source}: unknown launcher key 'launcher.{key}'{hint}")
        try:
            if source == "command line":
                cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{k}={v}" for k, v in update.items()]))
            else:
                cfg = OmegaConf.merge(cfg, update)
        except OmegaConfBaseException as e:
            msg = str(getattr(e, "msg", e)).splitlines()[0]
            raise ConfigError(f"{source}: launcher.{getattr(e, 'full_key', '')}: {msg}") from None
    out: LauncherConfig = OmegaConf.to_object(cfg)
    if out.kind not in KINDS:
        raise ConfigError(f"launcher={out.kind!r} is unknown; valid: {', '.join(KINDS)}")
    for key in ("jobs_per_gpu", "cpu_jobs", "time_min", "array_parallelism"):
        if getattr(out, key) < 1:
            raise ConfigError(f"launcher.{key}={getattr(out, key)} must be >= 1")
    if out.gpus_per_cell < 0 or out.signal_delay_s < 0 or out.poll_s <= 0:
        raise ConfigError("launcher.gpus_per_cell and launcher.signal_delay_s must be >= 0, launcher.poll_s > 0")
    for line in out.extra_sbatch:
        if not line.startswith("--"):
            raise ConfigError(f"launcher.extra_sbatch has {line!r}; write each as --key=value (e.g. --qos=high)")
    return out
