"""Everything about a launch that can be checked before anything is built or written: the composed config, the eval
settings, the run name and out_dir, the clash rule of the run directory and the checkpoint to resume from.

`prepare(argv)` raises ConfigError (one line; train.py exits 2) or returns the Launch to run. It only reads the disk,
so it is also the dry check of a command line (the README's commands are tested through it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from run.errors import ConfigError
from run.load import load_run_config
from run.resume import resume_from, wants_resume
from run.run_dir import check_clash, check_name, check_out_dir, is_leader, launch_name


@dataclass
class Launch:
    """A checked launch: its config (name filled in), its run directory and the checkpoint it resumes from."""

    cfg: DictConfig
    run_dir: Path
    ckpt_path: str | None
    resuming: bool


def prepare(argv: list[str]) -> Launch:
    cfg = load_run_config(argv)
    from eval.suite import check_config

    try:
        check_config(cfg.eval)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if cfg.name is not None:
        check_name(cfg.name)
    cfg.name = launch_name(cfg)
    check_out_dir(cfg.out_dir)
    run_dir = Path(cfg.out_dir).expanduser() / cfg.name
    resuming = wants_resume(cfg)
    if is_leader():  # spawned ranks find the directory their launcher just made
        check_clash(run_dir, resuming)
    return Launch(cfg=cfg, run_dir=run_dir, ckpt_path=resume_from(cfg, run_dir), resuming=resuming)
