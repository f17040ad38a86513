"""Checkpoint files: atomic writes, no diverged state on disk, damaged files named and skipped."""
from __future__ import annotations

import math
import os

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from run.checkpoint_io import (TMP_SUFFIX, AtomicCheckpointIO, CheckpointError, atomic_save, newest_valid,
                               read_checkpoint)
from tests.hybrid.train.test_module_nonfinite import _Memory, _parts


def _ckpt(step: int) -> dict:
    return {"state_dict": {"w": torch.full((4,), float(step))}, "hyper_parameters": {}, "global_step": step}


def test_an_interrupted_write_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_save(_ckpt(1), target)
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    def dies(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies)
    with pytest.raises(KeyboardInterrupt):
        atomic_save(_ckpt(2), target)
    monkeypatch.undo()
    assert read_checkpoint(target)["global_step"] == 1
    assert not list(tmp_path.glob(f".*{TMP_SUFFIX}"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_damaged_checkpoints_are_named_and_skipped(tmp_path):
    for step in (1, 2, 3):
        atomic_save(_ckpt(step), tmp_path / f"step{step}.ckpt")
        os.utime(tmp_path / f"step{step}.ckpt", ns=(step * 10**9, step * 10**9))
    (tmp_path / "step3.ckpt").write_bytes((tmp_path / "step3.ckpt").read_bytes()[:100])
    os.utime(tmp_path / "step3.ckpt", ns=(3 * 10**9, 3 * 10**9))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "step3.ckpt")
    warnings: list[str] = []
    path, ckpt = newest_valid(tmp_path, warn=warnings.append)
    assert path.name == "step2.ckpt" and ckpt["global_step"] == 2
    assert len(warnings) == 1 and "step3.ckpt" in warnings[0] and "falling back" in warnings[0]
    assert newest_valid(tmp_path / "none") is None


class _DivergeAt(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(module.parameters()).fill_(math.nan)


def test_a_diverged_model_is_never_checkpointed(tmp_path):
    module, dm = _parts(max_nonfinite=10)
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1, save_last=True,
                            filename="step{step:06d}", auto_insert_metric_name=False)
    trainer = L.Trainer(max_steps=4, accelerator="cpu", logger=_Memory(), callbacks=[_DivergeAt(2), saver],
                        plugins=[AtomicCheckpointIO()], enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0)
    with pytest.warns(UserWarning, match="the model has diverged"):
        trainer.fit(module, datamodule=dm)
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["last.ckpt", "step000001.ckpt"]
    assert read_checkpoint(tmp_path / "last.ckpt")["global_step"] == 1


def test_nonfinite_tensors_names_each_diverged_tensor_in_state_dict_order():
    from run.checkpoint_io import nonfinite_tensors

    sd = {"a": torch.ones(3), "b": torch.tensor([1.0, float("nan")]), "steps": torch.tensor(3),
          "c": torch.tensor([float("-inf")], dtype=torch.float64), "d": torch.zeros(2, dtype=torch.bfloat16)}
    assert nonfinite_tensors(sd) == ["b", "c"]
    assert nonfinite_tensors({}) == [] and nonfinite_tensors({"n": 1}) == []
