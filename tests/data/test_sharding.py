"""Sharding across ranks and DataLoader workers: disjoint and complete shards, and workers serving their slots."""
from __future__ import annotations

import itertools

import pytest
import torch

from data.build import build_datamodule
from data.mixture import NoDocuments
from data.stream import STATE_KEY, PackedBatches
from data.text.docs import TextDocs
from tests.data.corpus import make_docs, text_cfg, write_jsonl


def _one_epoch(docs: TextDocs, tokenizer) -> list[str]:
    """The documents of the shard's first pass over the stream, decoded."""
    out = []
    while True:
        ids = next(docs)
        if docs.state()["epoch"] > 0:
            return out
        out.append(tokenizer.decode(ids[1:-1]))


@pytest.mark.parametrize("n_files", [4, 5, 3])  # whole files per shard when n_files >= shards, else every G-th row
@pytest.mark.parametrize("slots", [1, 2])  # DataLoader workers per rank
def test_two_ranks_partition_the_documents(tmp_path, n_files, slots):
    docs = make_docs(240)
    per = len(docs) // n_files
    files = [write_jsonl(tmp_path / f"p{i}.jsonl", docs[i * per : (i + 1) * per]) for i in range(n_files)]
    dm = build_datamodule(text_cfg(files, tmp_path, val_fraction=0.0))
    world, seen = 2, []
    for rank in range(world):
        for slot in range(slots):
            text = dm.sources.mixture("train", rank * slots + slot, world * slots).sources[0]
            assert (text.shard, text.num_shards) == (rank * slots + slot, world * slots)
            seen.append(_one_epoch(text, dm.tokenizer))
    assert all(seen)  # every shard has documents
    flat = [d for shard in seen for d in shard]
    assert len(flat) == len(set(flat))  # disjoint
    assert sorted(flat) == sorted(docs)  # complete: nothing dropped
    if n_files >= world * slots:  # whole files: each file's documents stay together on one shard
        file_of = {d: i // per for i, d in enumerate(docs)}
        assert sum(len({file_of[d] for d in shard}) for shard in seen) == n_files  # no file split across shards


def test_ranks_stream_different_batches(tmp_path, corpus):
    _, files = corpus
    dm = build_datamodule(text_cfg(files, tmp_path))
    firsts = [next(iter(dm.train_stream(rank=r, world=2)))["input_ids"] for r in range(2)]
    assert not torch.equal(*firsts)


def test_dataloader_workers_serve_their_slots_round_robin(tmp_path, corpus):
    _, files = corpus
    dm = build_datamodule(text_cfg(files, tmp_path, num_workers=2))
    stream = dm.train_stream(rank=0, world=1)
    assert isinstance(stream, PackedBatches) and stream.slots == 2
    got = list(itertools.islice(iter(dm.train_dataloader()), 6))
    assert [b[STATE_KEY]["shard"] for b in got] == [0, 1, 0, 1, 0, 1]
    expected = {s: list(itertools.islice(stream.slot_batches(s), 3)) for s in (0, 1)}
    for i, batch in enumerate(got):
        assert torch.equal(batch["input_ids"], expected[i % 2][i // 2]["input_ids"])
        assert torch.equal(batch["cu_seqlens"], expected[i % 2][i // 2]["cu_seqlens"])


def test_a_shard_without_documents_says_so(tmp_path):
    path = write_jsonl(tmp_path / "two.jsonl", make_docs(2))
    dm = build_datamodule(text_cfg([path], tmp_path, val_fraction=0.0, tokenizer_docs=2))
    with pytest.raises(NoDocuments, match="shard 2 of 3 no train document.*fewer data.num_workers"):
        next(dm.sources.mixture("train", 2, 3).sources[0])
