"""The Lightning DataModule and its builder: batch shapes, a fixed validation set, config handling."""
from __future__ import annotations

import ast
import dataclasses
import inspect

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from data import config as config_module
from data.build import DATAMODULES, build_datamodule
from data.config import DataConfig
from data.synthetic.datamodule import SyntheticDataModule
from data.synthetic.vocab import VOCAB

TINY = {"seq_len": 32, "batch_size": 4, "val_batches": 3}


def test_train_batches_have_batch_size_by_seq_len():
    dm = build_datamodule(DataConfig(**TINY))
    assert isinstance(dm, SyntheticDataModule) and dm.vocab_size == VOCAB.vocab_size == 768
    it = iter(dm.train_dataloader())
    for _ in range(3):
        batch = next(it)
        assert batch["input_ids"].shape == batch["labels"].shape == (4, 32)
        assert batch["input_ids"].dtype == torch.long
        assert batch["cu_seqlens"][-1] == 4 * 32  # synthetic documents are packed with boundaries by default
        labels, keep = batch["labels"][:, :-1], batch["labels"][:, :-1] != -100  # -100: across a document boundary
        assert keep.float().mean() > 0.8 and torch.equal(labels[keep], batch["input_ids"][:, 1:][keep])
    dm = build_datamodule(DataConfig(**{**TINY, "loss_on": "answers"}))
    it = iter(dm.train_dataloader())
    batches = [next(it) for _ in range(8)]  # 32-token rows: most are tails of documents (unscored)
    labels = torch.cat([b["labels"] for b in batches])
    input_ids = torch.cat([b["input_ids"] for b in batches])
    scored = labels[:, :-1] != -100
    assert scored.any() and (~scored).any()  # prompts are not scored
    assert torch.equal(labels[:, :-1][scored], input_ids[:, 1:][scored])


def test_answers_only_scores_exactly_the_answers():
    from data.synthetic.stream import SyntheticStream
    from data.synthetic.tasks import TASKS

    for task in ("multihop", "mqar", "filler"):
        stream = SyntheticStream(256, {task: 1.0}, seed=3, answers_only=True)
        full = SyntheticStream(256, {task: 1.0}, seed=3)
        row, ref = next(iter(stream.rows())), next(iter(full.rows()))
        scored = row["labels"] != -100
        if task != "mqar":  # same documents, only the labels differ (mqar trains on whole Zoology sequences)
            assert torch.equal(row["input_ids"], ref["input_ids"])
        assert torch.equal(row["labels"][:-1][scored[:-1]], row["input_ids"][1:][scored[:-1]])
        words = VOCAB.decode(row["labels"][scored].tolist())
        if task == "filler":  # everything but a next document's <|bos|>
            assert torch.equal(scored, ref["labels"] != VOCAB.bos_id)
        elif task == "multihop":  # answers are numbers, plus the answer's <|eos|>
            assert all(w.isdigit() or w == "<|eos|>" for w in words) and any(w.isdigit() for w in words)
        else:  # mqar: the recalled values of every answered query, and the eos
            assert all(w.startswith("v") or w == "<|eos|>" for w in words)
            assert sum(w.startswith("v") for w in words) > 1
    assert "mqar" in TASKS


def test_validation_set_is_fixed_finite_and_not_the_training_data():
    cfg = DataConfig(**TINY)
    dm = SyntheticDataModule(cfg)
    first = [b["input_ids"] for b in dm.val_dataloader()]
    again = [b["input_ids"] for b in dm.val_dataloader()]
    fresh = [b["input_ids"] for b in SyntheticDataModule(cfg).val_dataloader()]
    assert len(first) == 3 and all(x.shape == (4, 32) for x in first)
    assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(first, again, fresh))
    train = next(iter(dm.train_dataloader()))["input_ids"]
    assert not any(torch.equal(train, v) for v in first)
    other_seed = next(iter(SyntheticDataModule(DataConfig(**TINY, seed=1)).val_dataloader()))["input_ids"]
    assert not torch.equal(first[0], other_seed)


def test_accepts_an_omegaconf_node_and_overrides():
    node = OmegaConf.structured(DataConfig)
    node.seq_len, node.batch_size = 16, 2
    node.mixture = {"multihop": 1.0}
    batch = next(iter(build_datamodule(node).train_dataloader()))
    assert batch["input_ids"].shape == (2, 16)
    with pytest.raises(Exception, match="seq_len"):
        node.seq_len = "long"  # the structured config types its fields


def test_unknown_name_and_bad_sizes_are_named():
    with pytest.raises(ValueError, match="'hf_stream'.*synthetic"):
        build_datamodule(DataConfig(name="hf_stream"))
    with pytest.raises(ValueError, match="batch_size=0"):
        build_datamodule(DataConfig(batch_size=0))
    with pytest.raises(ValueError, match="poetry"):
        build_datamodule(DataConfig(mixture={"poetry": 1.0}))
    assert set(DATAMODULES) == {"synthetic", "text"}


def test_every_config_field_has_a_docstring():
    tree = ast.parse(inspect.getsource(config_module))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DataConfig")
    documented = {
        stmt.target.id
        for stmt, nxt in zip(cls.body, cls.body[1:])
        if isinstance(stmt, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
    }
    assert documented == {f.name for f in dataclasses.fields(DataConfig)}


class _Bigram(L.LightningModule):
    """The smallest LM that exercises the training and validation loops."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, vocab_size)
        self.val_losses: list[float] = []

    def _loss(self, batch) -> torch.Tensor:
        logits = self.emb(batch["input_ids"])  # (B, T, V)
        return nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten())

    def training_step(self, batch, _):
        return self._loss(batch)

    def validation_step(self, batch, _):
        self.val_losses.append(float(self._loss(batch)))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1.0)


def test_lightning_trains_and_validates_on_it():
    dm = build_datamodule(DataConfig(**TINY))
    model = _Bigram(dm.vocab_size)
    trainer = L.Trainer(
        max_steps=4, val_check_interval=2, check_val_every_n_epoch=None, num_sanity_val_steps=0,
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 4
    assert len(model.val_losses) == 2 * 3  # two validation runs over the 3 fixed batches
    assert model.val_losses[3:] != model.val_losses[:3]  # same batches, trained model: the loss moved
