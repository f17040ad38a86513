"""Exact resume: a stopped-and-resumed stream yields exactly the batches of the uninterrupted one.

First at the DataModule level (state through a torch.save'd file), then through a real Lightning Trainer: a run
stopped at step k and resumed from its checkpoint file trains on the same token batches at steps k+1..N.
"""
from __future__ import annotations

import itertools

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from data.text import docs as text_docs
from data.build import build_datamodule
from data.config import DataConfig
from tests.data.batches import same_batch
from tests.data.corpus import make_docs, text_cfg, write_jsonl


def _take(dm, n: int) -> list[dict]:
    """n consumed training batches (the way the trainer takes them), from a fresh iterator of the loader."""
    return [dm.consume(b) for b in itertools.islice(iter(dm.train_dataloader()), n)]


def _same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(same_batch(x, y) for x, y in zip(a, b))


def _roundtrip(state: dict, path) -> dict:
    torch.save(state, path)
    return torch.load(path, weights_only=True)  # how Lightning loads local checkpoints


@pytest.mark.parametrize(("workers", "stop", "chunk"), [(0, 7, 32), (0, 13, 3), (2, 5, 32), (2, 12, 3)])
def test_text_stream_resumes_token_exactly(tmp_path, monkeypatch, workers, stop, chunk):
    # A small corpus, small shuffle blocks, many batches: resume points fall mid-block, mid-document, and some after
    # an epoch end (the stream then runs on through shuffled files); chunk=3 resumes between tokenizer calls too.
    monkeypatch.setattr(text_docs, "ENCODE_CHUNK", chunk)
    files = [write_jsonl(tmp_path / f"p{i}.jsonl", make_docs(16)[8 * i : 8 * (i + 1)]) for i in range(2)]
    cfg = text_cfg(files, tmp_path, num_workers=workers, synthetic_weight=0.25, shuffle_buffer=8, val_fraction=0.0,
                   tokenizer_docs=16)
    full = _take(build_datamodule(cfg), 16)
    first = build_datamodule(cfg)
    assert _same(_take(first, stop), full[:stop])
    state = _roundtrip(first.state_dict(), tmp_path / "state.pt")
    epochs = [s["docs"]["sources"][0]["epoch"] for s in state["stream"]["states"]]
    assert max(epochs) >= (1 if stop > 10 else 0)
    resumed = build_datamodule(cfg)
    resumed.load_state_dict(state)
    assert _same(_take(resumed, 16 - stop), full[stop:])


def test_a_resumed_stream_resumes_again(tmp_path):
    files = [write_jsonl(tmp_path / "p.jsonl", make_docs(20))]
    cfg = text_cfg(files, tmp_path, synthetic_weight=0.3, shuffle_buffer=6, val_fraction=0.0, tokenizer_docs=20)
    full = _take(build_datamodule(cfg), 12)
    got, state = [], None
    for leg in range(3):
        dm = build_datamodule(cfg)
        if state is not None:
            dm.load_state_dict(_roundtrip(state, tmp_path / f"leg{leg}.pt"))
        got += _take(dm, 4)
        state = dm.state_dict()
    assert _same(got, full)


def test_synthetic_stream_resumes_token_exactly(tmp_path):
    cfg = DataConfig(seq_len=48, batch_size=2, pack_boundaries=True)
    full = _take(build_datamodule(cfg), 9)
    first = build_datamodule(cfg)
    _take(first, 4)
    resumed = build_datamodule(cfg)
    resumed.load_state_dict(_roundtrip(first.state_dict(), tmp_path / "s.pt"))
    assert _same(_take(resumed, 5), full[4:])


def test_a_second_loader_continues_where_the_first_stopped(tmp_path, corpus):
    _, files = corpus
    cfg = text_cfg(files, tmp_path)
    full = _take(build_datamodule(cfg), 6)
    dm = build_datamodule(cfg)
    assert _same(_take(dm, 2) + _take(dm, 4), full)


def test_resume_into_another_worker_layout_is_refused(tmp_path, corpus):
    _, files = corpus
    dm = build_datamodule(text_cfg(files, tmp_path, num_workers=2))
    _take(dm, 3)
    other = build_datamodule(text_cfg(files, tmp_path, num_workers=0))
    other.load_state_dict(dm.state_dict())
    with pytest.raises(ValueError, match=r"1 rank\(s\) x 1 accumulated micro-batch\(es\) x 2 worker slot\(s\), "
                       r"this run on 1 rank.* x 1 worker.*data.num_workers=2"):
        other.train_dataloader()


class _Record(L.Callback):
    """Keeps every batch the trainer trains on."""

    def __init__(self) -> None:
        self.batches: list[dict] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches.append({k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in batch.items()})


def _fit(dm, steps: int, ckpt_dir, ckpt_path=None) -> list[dict]:
    from hybrid.train.module import HybridLMModule

    model = {"vocab_size": dm.vocab_size, "d_model": 32, "n_layers": 2, "n_heads": 2, "head_dim": 16, "ratio": "1:1",
             "linear": {"variant": "gated_deltanet", "chunk_size": 16}, "attention": {"type": "mha"}}
    module = HybridLMModule(model=model, optim={"lr": 1e-3, "warmup_steps": 2}, total_steps=6)
    record = _Record()
    trainer = L.Trainer(
        max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        callbacks=[record, ModelCheckpoint(dirpath=str(ckpt_dir), every_n_train_steps=3, save_top_k=-1,
                                           filename="step{step}", auto_insert_metric_name=False)],
    )
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    assert trainer.global_step == steps
    return record.batches


def test_lightning_run_stopped_and_resumed_from_its_checkpoint_file_trains_on_the_same_batches(tmp_path, corpus):
    _, files = corpus
    cfg = text_cfg(files, tmp_path, num_workers=2, synthetic_weight=0.2, shuffle_buffer=8)
    uninterrupted = _fit(build_datamodule(cfg), 6, tmp_path / "a")
    stopped = _fit(build_datamodule(cfg), 3, tmp_path / "b")  # stops at step 3 (odd: the next batch is worker 1's)
    ckpt = tmp_path / "b" / "step3.ckpt"
    assert ckpt.is_file() and "TextDataModule" in torch.load(ckpt, weights_only=True)
    resumed = _fit(build_datamodule(cfg), 6, tmp_path / "c", ckpt_path=str(ckpt))
    assert len(uninterrupted) == 6 and len(stopped) == 3 and len(resumed) == 3
    assert _same(stopped, uninterrupted[:3])
    assert _same(resumed, uninterrupted[3:])
    assert all("cu_seqlens" in b and "stream_state" not in b for b in resumed)  # the tag never reaches the model


def test_under_two_ddp_ranks_every_rank_saves_and_restores_its_own_position(tmp_path, corpus):
    import socket

    import torch.multiprocessing as mp

    from tests.data.distributed_worker import run_rank

    _, files = corpus
    cfg = text_cfg(files, tmp_path, synthetic_weight=0.2)
    build_datamodule(cfg)  # train the tokenizer once, before the ranks read the cache
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(run_rank, args=(2, cfg, port, str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert all(r["same"] for r in results)  # each rank resumed its own stream exactly
    state = results[0]["state"]["stream"]
    assert state == results[1]["state"]["stream"] and state["world"] == 2
    assert state["consumed"] == [2, 3]  # rank 0's checkpoint holds both positions
    assert all(s is not None for s in state["states"])  # each rank's one shard
    assert not torch.equal(results[0]["first_ids"], results[1]["first_ids"])
