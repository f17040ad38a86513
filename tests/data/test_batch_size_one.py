"""One row per batch on every data module and batch path: labels never alias input_ids (writing -100 into the
labels of a single row used to write it into the inputs, and the embedding failed with an IndexError)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data.build import DATAMODULES
from data.config import DataConfig
from data.packing import IGNORE, make_batch
from tests.data.corpus import text_cfg


def _check(batch: dict, vocab_size: int) -> None:
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape[0] == 1 and labels.shape == ids.shape
    assert ids.untyped_storage().data_ptr() != labels.untyped_storage().data_ptr()
    assert int(ids.min()) >= 0 and int(ids.max()) < vocab_size, "a label mask leaked into the inputs"
    assert ((labels == IGNORE) | ((labels >= 0) & (labels < vocab_size))).all()


@pytest.mark.parametrize("boundaries", [True, False])
@pytest.mark.parametrize("unscore_continued", [True, False])
def test_make_batch_of_one_row_keeps_inputs_intact(boundaries, unscore_continued):
    row = np.arange(1, 10, dtype=np.int64)
    row[4] = -row[4] - 1  # an unscored label
    starts = np.zeros(9, dtype=bool)
    starts[[0, 6]] = True
    batch = make_batch([row], [starts], boundaries, unscore_continued)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6, 7, 8]]
    assert batch["labels"][0, 3] == IGNORE  # row[4] is unscored as a label ...
    _check(batch, 10)  # ... but stays a valid input


def _batches(dm):
    train = dm.consume(next(iter(dm.train_dataloader())))
    val = next(iter(dm.val_dataloader()))
    return train, val


@pytest.mark.parametrize("loss_on", ["all", "answers"])
@pytest.mark.parametrize("pack_boundaries", [None, False])
def test_the_synthetic_module_with_batch_size_one(loss_on, pack_boundaries):
    dm = DATAMODULES["synthetic"](DataConfig(seq_len=64, batch_size=1, val_batches=1, loss_on=loss_on,
                                             pack_boundaries=pack_boundaries))
    for batch in _batches(dm):
        _check(batch, dm.vocab_size)


def test_the_text_module_with_batch_size_one(tmp_path, corpus):
    _, files = corpus
    dm = DATAMODULES["text"](text_cfg(files, tmp_path, batch_size=1, synthetic_weight=0.3))
    for batch in _batches(dm):
        _check(batch, dm.vocab_size)


def test_every_data_module_is_covered():
    assert set(DATAMODULES) == {"synthetic", "text"}, "a new data module needs its batch-size-one test here"


@pytest.mark.parametrize("loss_on", ["all", "answers"])
def test_a_model_trains_on_a_single_row(loss_on):
    from run.build import build_module
    from run.load import load_run_config

    cfg = load_run_config(["recipe=kda_3to1", "size=tiny", "data.batch_size=1", f"data.loss_on={loss_on}"])
    dm = DATAMODULES["synthetic"](cfg.data)
    batch = dm.consume(next(iter(dm.train_dataloader())))
    loss = build_module(cfg, dm.vocab_size).model.loss(batch["input_ids"], batch["labels"], batch.get("cu_seqlens"))
    assert torch.isfinite(loss)
