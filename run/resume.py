"""Which checkpoint a launch resumes from: `ckpt_path=` (checked), or `resume=auto` (the run directory's newest valid
checkpoint, a fresh start when there is none). A requeued Slurm job resumes as with resume=auto.

Either way the checkpoint is read and compared with the run's model before the run directory is touched, so a
damaged file or one of another recipe or size is a one-line error, not a traceback from inside Lightning.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from data.resume import check_continues
from data.shards import ShardLayout
from run.checkpoint_io import CheckpointError, newest_valid, read_checkpoint
from run.errors import ConfigError
from run.run_dir import is_leader

RESUME = ("never", "auto")
RESUME_ENV = "HYBRID_RESUME_FROM"
"""Environment variable carrying the launching process's choice of checkpoint to the ranks it spawns."""


def requeued() -> bool:
    """A Slurm job started again by a requeue (Slurm counts restarts in SLURM_RESTART_COUNT)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def wants_resume(cfg: DictConfig) -> bool:
    """Whether this launch continues a run directory (so an existing one is not a clash)."""
    return bool(cfg.ckpt_path) or cfg.resume == "auto" or requeued()


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def _describe(ckpt_path: Path) -> str:
    """'kda_3to1 (size tiny)' from the checkpoint's run config, when it has one."""
    run_cfg = (ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path.parent) / "config.yaml"
    try:
        saved = OmegaConf.load(run_cfg)
        return f"a {saved.recipe} (size {saved.size}) checkpoint"
    except Exception:
        return "a checkpoint"


def check_compatible(cfg: DictConfig, ckpt_path: Path, ckpt: dict) -> None:
    """The checkpoint's model must be the run's model (vocab_size may be left to the tokenizer)."""
    theirs = _flat(ckpt["hyper_parameters"].get("model", {}))
    ours = _flat(OmegaConf.to_container(cfg.model, resolve=True))
    if ours.get("vocab_size") is None:
        ours.pop("vocab_size", None)
        theirs.pop("vocab_size", None)
    keys = [k for k in dict.fromkeys([*ours, *theirs]) if theirs.get(k) != ours.get(k)]
    keys.sort(key=lambda k: k.count("."))  # widths and depth first, then the mixers' details
    if keys:
        shown = keys[:4]
        more = f" (and {len(keys) - 4} more)" if len(keys) > 4 else ""
        saved = ", ".join(f"model.{k}={theirs.get(k)!r}" for k in shown)
        here = ", ".join(f"model.{k}={ours.get(k)!r}" for k in shown)
        raise ConfigError(f"ckpt {str(ckpt_path)!r} is {_describe(ckpt_path)} with {saved}{more}; this run "
                          f"({cfg.recipe}, size {cfg.size}) has {here}: resume with the recipe, size and overrides "
                          "it was trained with")


def run_layout(cfg: DictConfig) -> ShardLayout:
    """The data layout this launch will train with (data/shards.py): ranks x accumulate x DataLoader workers."""
    devices = str(cfg.trainer.devices)
    if devices in ("auto", "-1"):
        import torch

        gpu = cfg.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        per_node = torch.cuda.device_count() if gpu else 1
    else:
        ids = [d for d in devices.split(",") if d.strip()]
        per_node = int(ids[0]) if len(ids) == 1 else len(ids)
    return ShardLayout(per_node * cfg.trainer.num_nodes, cfg.trainer.accumulate, max(1, cfg.data.num_workers))


def check_data_layout(cfg: DictConfig, ckpt_path: Path, ckpt: dict) -> None:
    """The checkpoint's data stream must continue exactly under this launch's devices, accumulation and workers."""
    states = [v["stream"] for v in ckpt.values() if isinstance(v, dict) and isinstance(v.get("stream"), dict)]
    if not states:
        return
    try:
        check_continues(states[0], run_layout(cfg))
    except ValueError as e:
        raise ConfigError(f"ckpt {str(ckpt_path)!r}: {e}") from None


def resume_from(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint to pass to Trainer.fit(ckpt_path=...), checked; None starts fresh."""
    if cfg.ckpt_path and cfg.resume == "auto":
        raise ConfigError("pass either ckpt_path=PATH or resume=auto, not both")
    shared = os.environ.get(RESUME_ENV)
    if shared is not None and not is_leader():  # a spawned rank: the launching process chose and checked it
        return shared or None
    if cfg.ckpt_path:
        path = Path(cfg.ckpt_path)
        try:
            ckpt = read_checkpoint(path)
        except CheckpointError as e:
            found = newest_valid(path.parent, warn=lambda _: None) if path.parent.is_dir() else None
            hint = (f"; the newest valid checkpoint there is {str(found[0])!r} (resume=auto picks it)"
                    if found else "; pass a .ckpt file from a run's checkpoints/")
            raise ConfigError(f"ckpt_path: {e}{hint}") from None
    elif cfg.resume == "auto" or requeued():
        found = newest_valid(run_dir / "checkpoints")
        if found is None:
            return None
        path, ckpt = found
    else:
        return None
    check_compatible(cfg, path, ckpt)
    check_data_layout(cfg, path, ckpt)
    return str(path)


def share_with_ranks(ckpt_path: str | None) -> None:
    """Ranks that Lightning spawns take the launching process's checkpoint instead of choosing again."""
    os.environ[RESUME_ENV] = ckpt_path or ""
