"""The packed synthetic stream: reproducible, shaped right, nothing dropped, one distinct stream per shard."""
from __future__ import annotations

import random
from itertools import islice, pairwise

import pytest
import torch
from torch.utils.data import DataLoader

from data.synthetic.special_tokens import BOS, EOS, QUERY, USER
from data.synthetic.stream import SyntheticStream
from data.synthetic.tasks import TASKS
from data.synthetic.vocab import VOCAB

MIX = {"mqar": 0.3, "multiturn": 0.3, "multihop": 0.2, "filler": 0.2}
T = 64


def _take(stream: SyntheticStream, n: int, **shard) -> list[dict[str, torch.Tensor]]:
    return list(islice(stream.rows(**shard) if shard else iter(stream), n))


def _same(a: list[dict], b: list[dict]) -> bool:
    return all(torch.equal(x["input_ids"], y["input_ids"]) and torch.equal(x["labels"], y["labels"])
               for x, y in zip(a, b))


def test_rows_have_shape_dtype_and_ids_in_range():
    for row in _take(SyntheticStream(T, MIX, seed=0), 40):
        assert set(row) == {"input_ids", "labels"}
        for t in row.values():
            assert t.shape == (T,) and t.dtype == torch.long
            assert int(t.min()) >= 0 and int(t.max()) < VOCAB.vocab_size
        assert torch.equal(row["labels"][:-1], row["input_ids"][1:])  # labels are the next tokens


def test_deterministic_per_seed_and_different_across_seeds():
    a = _take(SyntheticStream(T, MIX, seed=3), 10)
    b = _take(SyntheticStream(T, MIX, seed=3), 10)
    c = _take(SyntheticStream(T, MIX, seed=4), 10)
    assert _same(a, b)
    assert not _same(a, c)


def _token_stream(rows: list[dict[str, torch.Tensor]]) -> list[int]:
    """Undo the packing: rows overlap by one token (stride seq_len)."""
    out: list[int] = []
    for prev, row in zip([None, *rows], rows):
        if prev is not None:
            assert int(row["input_ids"][0]) == int(prev["labels"][-1])
        out += row["input_ids"].tolist()
    return out + [int(rows[-1]["labels"][-1])]


def test_packing_drops_nothing_and_documents_continue_across_rows():
    stream = SyntheticStream(T, MIX, seed=1)
    rows = _take(stream, 60)
    packed = _token_stream(rows)
    docs = stream.documents(random.Random(stream.stream_key(rank=0, worker=0)))
    expected: list[int] = []
    while len(expected) < len(packed):
        expected += next(docs)
    assert packed == expected[: len(packed)]
    # Some document must straddle a row boundary, or the test above says little about continuation.
    bos = VOCAB.bos_id
    assert any(int(r["input_ids"][0]) != bos and bos in r["input_ids"].tolist() for r in rows)


def test_packed_documents_are_valid_task_examples():
    tokens = VOCAB.decode(_token_stream(_take(SyntheticStream(T, MIX, seed=2), 200)))
    starts = [i for i, tok in enumerate(tokens) if tok == BOS]
    kinds = set()
    for a, b in pairwise(starts):  # complete documents only
        doc = tokens[a + 1 : b]
        assert doc[-1] == EOS and BOS not in doc
        body = doc[:-1]
        kind = "mqar" if QUERY in body else "multiturn" if USER in body else "multihop" if "?" in body else "filler"
        kinds.add(kind)
        if kind == "filler":
            assert TASKS[kind].solve(body) == [] and body[-1] == "."
        else:  # the answer is the document's last token
            assert TASKS[kind].solve(body[:-1]) == [body[-1]]
    assert kinds == set(MIX)


def test_mixture_weights_select_tasks():
    tokens = VOCAB.decode(_token_stream(_take(SyntheticStream(T, {"multihop": 1.0, "mqar": 0.0}, seed=0), 30)))
    assert QUERY not in tokens and USER not in tokens and "?" in tokens


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mixture": {"mqar": 1.0, "poetry": 1.0}}, "poetry"),
        ({"mixture": {"mqar": -1.0}}, "mqar=-1.0"),
        ({"mixture": {"mqar": 0.0}}, "positive"),
        ({"mixture": MIX, "split": "test"}, "'test'.*train, val"),
        ({"mixture": MIX, "seq_len": 0}, "seq_len=0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    kwargs = {"seq_len": T, **kwargs}
    with pytest.raises(ValueError, match=match):
        SyntheticStream(**kwargs)


def test_ranks_workers_and_splits_get_distinct_streams():
    train, val = SyntheticStream(T, MIX, seed=0), SyntheticStream(T, MIX, seed=0, split="val")
    shards = [(0, 0), (0, 1), (1, 0), (1, 1), (3, 2)]
    keys = {s.stream_key(r, w) for s in (train, val) for r, w in shards}
    assert len(keys) == 2 * len(shards)
    firsts = [_take(train, 3, rank=r, worker=w) for r, w in shards] + [_take(val, 3, rank=0, worker=0)]
    for i in range(len(firsts)):
        for j in range(i + 1, len(firsts)):
            assert not _same(firsts[i], firsts[j]), (i, j)


def test_rank_comes_from_env_when_not_distributed(monkeypatch):
    stream = SyntheticStream(T, MIX, seed=0)
    monkeypatch.setenv("RANK", "2")
    assert _same(_take(stream, 3), _take(stream, 3, rank=2, worker=0))
    assert not _same(_take(stream, 3), _take(stream, 3, rank=0, worker=0))
    # An explicit rank (what the DataModule passes) wins over the environment.
    assert _same(_take(SyntheticStream(T, MIX, seed=0, rank=1), 3), _take(stream, 3, rank=1, worker=0))


def test_dataloader_workers_each_stream_their_own_shard():
    stream = SyntheticStream(T, MIX, seed=0)
    loader = DataLoader(stream, batch_size=2, num_workers=2)
    batches = list(islice(iter(loader), 4))  # workers take turns: w0, w1, w0, w1
    for b, batch in enumerate(batches):
        worker, k = b % 2, b // 2
        expected = _take(stream, 2 * (k + 1), rank=0, worker=worker)[2 * k :]
        assert torch.equal(batch["input_ids"], torch.stack([r["input_ids"] for r in expected]))
        assert batch["input_ids"].shape == (2, T)
    assert not torch.equal(batches[0]["input_ids"], batches[1]["input_ids"])
