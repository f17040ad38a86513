"""Checkpoint files: atomic writes, no diverged states, verification, and the newest valid checkpoint of a folder.

Lightning's TorchCheckpointIO writes through fsspec, whose temporary file lives in $TMPDIR: on another filesystem the
final move is a copy, and a kill during it leaves a truncated `last.ckpt`. Here the temporary file sits in the
checkpoint's own folder and is fsynced, then renamed over the target: a reader sees the old file or the new one.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_warn

TMP_SUFFIX = ".partial"
"""Suffix of a checkpoint being written (`.<name>.<random>.partial`); one left behind was killed mid-write."""
REQUIRED = ("state_dict", "hyper_parameters", "global_step")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be resumed from: the message says what is wrong with it."""


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file beside `path`, fsync, rename over `path`, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint gets the permissions any file would
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def remove_partials(folder: Path) -> list[Path]:
    """Delete temporary files of writes that were killed (only safe while holding the run directory's lock)."""
    partials = sorted(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []
    for p in partials:
        p.unlink(missing_ok=True)
    return partials


def nonfinite_tensors(state_dict: dict[str, Any]) -> list[str]:
    """Names of floating-point tensors holding NaN or inf (one read back to the host per device, not per tensor)."""
    by_device: dict[torch.device, list[tuple[str, torch.Tensor]]] = {}
    for k, v in state_dict.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            by_device.setdefault(v.device, []).append((k, v))
    bad = set()
    for named in by_device.values():
        finite = torch.stack([torch.isfinite(v).all() for _, v in named]).tolist()
        bad.update(k for (k, _), ok in zip(named, finite) if not ok)
    return [k for k in state_dict if k in bad]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic; it refuses to write a model that has diverged (NaN/inf weights)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        bad = nonfinite_tensors(checkpoint.get("state_dict", {}))
        if bad:
            rank_zero_warn(f"not saving {path}: the model has diverged (non-finite values in {bad[0]}"
                           f"{f' and {len(bad) - 1} more tensors' if len(bad) > 1 else ''})")
            return
        atomic_save(checkpoint, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a train.py checkpoint on the CPU; CheckpointError names what is wrong with a damaged or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{str(path)!r} is empty (0 bytes)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for damaged files
        reason = (str(e).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint ({type(e).__name__}: {reason})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        raise CheckpointError(f"{str(path)!r} is not a train.py Lightning checkpoint (it lacks "
                              f"{', '.join(k for k in REQUIRED if not isinstance(ckpt, dict) or k not in ckpt)})")
    bad = nonfinite_tensors(ckpt["state_dict"])
    if bad:
        raise CheckpointError(f"{str(path)!r} holds a diverged model (non-finite values in {bad[0]})")
    return ckpt


def by_age(folder: Path) -> list[Path]:
    """The .ckpt files of a folder, newest first."""
    files = [p for p in folder.glob("*.ckpt") if p.is_file()] if folder.is_dir() else []
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def newest_valid(folder: Path, warn: Callable[[str], None] = rank_zero_warn) -> tuple[Path, dict] | None:
    """(path, loaded checkpoint) of the newest checkpoint in `folder` that reads back; damaged newer ones are
    skipped with a warning each. None when there is none."""
    for path in by_age(folder):
        try:
            return path, read_checkpoint(path)
        except CheckpointError as e:
            warn(f"skipping a damaged checkpoint: {e}; falling back to the previous one")
    return None
