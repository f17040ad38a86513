"""Sharding across ranks and accumulated micro-batches (data/shards.py), ranks given explicitly, no processes.

Every layout's shards partition the data; 2 ranks and 1 rank x 2 accumulated micro-batches read the very same rows
at every optimizer step (synthetic, text, text + tasks, with DataLoader workers too); a checkpoint's data state moves
between them token-exactly; a layout with another data order is refused with a one-line message.
"""
from __future__ import annotations

import itertools

import pytest
import torch

from data.build import build_datamodule
from data.config import DataConfig
from data.resume import merge
from data.shards import ShardLayout
from tests.data.batches import same_batch
from tests.data.corpus import make_docs, text_cfg, write_jsonl

LAYOUTS = [ShardLayout(w, a, k) for w in (1, 2, 4) for a in (1, 2, 3) for k in (1, 2)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_every_layout_partitions_its_shards_over_ranks_and_slots(layout):
    shards = [g for r in range(layout.world) for g in layout.rank_shards(r)]
    assert sorted(shards) == list(range(layout.num_shards))


@pytest.mark.parametrize(("a", "b"), [(ShardLayout(2, 1, 1), ShardLayout(1, 2, 1)),
                                      (ShardLayout(4, 1, 2), ShardLayout(2, 2, 2)),
                                      (ShardLayout(4, 1, 1), ShardLayout(1, 4, 1))], ids=str)
def test_a_step_reads_the_same_shards_however_the_lanes_split_into_ranks(a, b):
    def step_shards(layout, t):  # the shard of each lane p = rank * accumulate + micro at step t
        return [layout.shard(r, layout.slot_of_batch(t * layout.accumulate + m))
                for r in range(layout.world) for m in range(layout.accumulate)]

    for t in range(6):
        assert step_shards(a, t) == step_shards(b, t)
    assert a.same_data_order(b) and not a.same_data_order(ShardLayout(1, 1, a.workers))


def _configs(tmp_path) -> dict[str, DataConfig]:
    files = [write_jsonl(tmp_path / f"p{i}.jsonl", make_docs(60, seed=i, prefix=f"f{i}")) for i in range(3)]
    return {"synthetic": DataConfig(seq_len=32, batch_size=2),
            "text": text_cfg(files, tmp_path, shuffle_buffer=8),
            "text+tasks": text_cfg(files, tmp_path, shuffle_buffer=8, synthetic_weight=0.3)}


def _rank_batches(dm, rank: int, layout: ShardLayout, n: int) -> list[dict]:
    """n batches of one rank as its DataLoader would hand them out (workers round robin), consumed."""
    stream = dm.train_stream(rank=rank, world=layout.world, accumulate=layout.accumulate)
    workers = [stream._worker_batches(w) for w in range(layout.workers)]
    return [dm.consume(next(workers[i % layout.workers])) for i in range(n)]


def _steps(dms, layout: ShardLayout, steps: int) -> list[list[dict]]:
    """Per optimizer step, the micro-batches of every lane (rank-major, then micro-batch)."""
    per_rank = [_rank_batches(dms[r], r, layout, steps * layout.accumulate) for r in range(layout.world)]
    return [[per_rank[r][t * layout.accumulate + m] for r in range(layout.world) for m in range(layout.accumulate)]
            for t in range(steps)]


def _same(a: list[list[dict]], b: list[list[dict]]) -> bool:
    return len(a) == len(b) and all(len(x) == len(y) and all(same_batch(p, q) for p, q in zip(x, y))
                                    for x, y in zip(a, b))


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("kind", ["synthetic", "text", "text+tasks"])
def test_two_ranks_and_one_rank_accumulating_two_read_the_same_rows_and_resume_across(tmp_path, kind, workers):
    cfg = _configs(tmp_path)[kind]
    cfg.num_workers = workers
    k = max(1, workers)
    ddp, acc = ShardLayout(2, 1, k), ShardLayout(1, 2, k)
    full = _steps([build_datamodule(cfg) for _ in range(2)], ddp, 6)
    assert _same(_steps([build_datamodule(cfg)], acc, 6), full)
    flat = [b["input_ids"] for step in full for b in step]
    assert len({tuple(x.flatten().tolist()) for x in flat}) == len(flat)  # no two micro-batches alike

    # 3 steps on 2 ranks, the state rank 0's checkpoint would hold, then 3 more on 1 rank accumulating 2: and back
    first = [build_datamodule(cfg) for _ in range(2)]
    assert _same(_steps(first, ddp, 3), full[:3])
    state = {"stream": merge(ddp, [dm.resume.local_state() for dm in first])}
    single = build_datamodule(cfg)
    single.load_state_dict(state)
    assert _same(_steps([single], acc, 2), full[3:5])
    back = [build_datamodule(cfg) for _ in range(2)]
    for dm in back:
        dm.load_state_dict({"stream": merge(acc, [single.resume.local_state()])})
    assert _same(_steps(back, ddp, 1), full[5:6])


def test_a_layout_with_another_data_order_is_refused_in_one_line(tmp_path):
    cfg = DataConfig(seq_len=16, batch_size=1)
    dms = [build_datamodule(cfg) for _ in range(2)]
    _steps(dms, ShardLayout(2, 1, 1), 2)
    state = merge(ShardLayout(2, 1, 1), [dm.resume.local_state() for dm in dms])
    other = build_datamodule(cfg)
    other.load_state_dict({"stream": state})
    with pytest.raises(ValueError, match=r"^the checkpoint's data stream ran on 2 rank\(s\) x 1 accumulated .*"
                                         r"devices x trainer.accumulate = 2 .*trainer.accumulate=2\)$"):
        other.train_stream(rank=0, world=1, accumulate=1)


def test_a_state_saved_inside_an_accumulation_window_resumes_only_in_its_own_layout():
    cfg = DataConfig(seq_len=16, batch_size=1)
    dm = build_datamodule(cfg)
    _rank_batches(dm, 0, ShardLayout(1, 2, 1), 3)  # one and a half steps
    state = dm.state_dict()
    same = build_datamodule(cfg)
    same.load_state_dict(state)
    assert same.train_stream(rank=0, world=1, accumulate=2).start == 3
    other = build_datamodule(cfg)
    other.load_state_dict(state)
    with pytest.raises(ValueError, match="inside an accumulation window"):
        other.train_stream(rank=1, world=2, accumulate=1)


@pytest.mark.parametrize("layout", [ShardLayout(2, 1, 1), ShardLayout(2, 2, 1), ShardLayout(1, 2, 2)], ids=str)
def test_text_documents_split_disjointly_and_completely_also_across_a_resume(tmp_path, layout):
    docs = make_docs(90)
    files = [write_jsonl(tmp_path / f"p{i}.jsonl", docs[30 * i : 30 * (i + 1)]) for i in range(3)]
    dm = build_datamodule(text_cfg(files, tmp_path, val_fraction=0.0, shuffle_buffer=4))
    seen = []
    for g in range(layout.num_shards):
        text = dm.sources.mixture("train", g, layout.num_shards).sources[0]
        shard = [dm.tokenizer.decode(next(text)[1:-1]) for _ in range(3)]  # some documents, then a checkpoint
        resumed = dm.sources.mixture("train", g, layout.num_shards).sources[0]
        resumed.load_state(text.state())
        while True:
            ids = next(resumed)
            if resumed.state()["epoch"] > 0:
                break
            shard.append(dm.tokenizer.decode(ids[1:-1]))
        seen.append(shard)
    flat = [d for shard in seen for d in shard]
    assert all(seen) and len(flat) == len(set(flat)) and sorted(flat) == sorted(docs)


def test_synthetic_shards_are_seeded_apart_and_one_device_keeps_its_stream():
    dm = build_datamodule(DataConfig(seq_len=64, batch_size=4))
    first_rows = {tuple(next(iter(dm.sources.mixture("train", g, 8).sources[0])).tolist()) for g in range(8)}
    assert len(first_rows) == 8
    one = list(itertools.islice(dm.train_stream(rank=0, world=1, accumulate=1).slot_batches(0), 2))
    from data.synthetic.stream import SyntheticStream

    rows = SyntheticStream(64, dm.mixture, seed=0).rows(rank=0, worker=0)
    assert torch.equal(one[0]["input_ids"][0], next(rows)["input_ids"])
