"""Packing keeps document boundaries: cu_seqlens against the documents, masked cross-document labels, mixtures."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from data.build import build_datamodule
from data.config import DataConfig
from data.mixture import Mixture
from data.packing import IGNORE, Packer, make_batch
from data.synthetic.vocab import VOCAB
from tests.data.corpus import text_cfg


class ListDocs:
    """A DocSource over fixed documents (cycled), whose state is an index."""

    def __init__(self, docs: list[list[int]]) -> None:
        self.docs, self.i = docs, 0

    def __next__(self) -> np.ndarray:
        doc = self.docs[self.i % len(self.docs)]
        self.i += 1
        return np.array(doc, dtype=np.int32)

    def state(self) -> int:
        return self.i

    def load_state(self, state: int) -> None:
        self.i = state


def _docs(n: int, seed: int = 0) -> list[list[int]]:
    """Documents whose tokens name them: doc d is [1000 d, 1000 d + 1, ...], lengths 1..25."""
    rng = np.random.default_rng(seed)
    return [[1000 * d + j for j in range(int(rng.integers(1, 26)))] for d in range(n)]


def _doc_of(token: int) -> int:
    return token // 1000


@pytest.mark.parametrize("seq_len", [1, 7, 16, 64])
def test_rows_tile_the_documents_and_starts_mark_each_first_token(seq_len):
    docs = _docs(80)
    packer = Packer(seq_len, Mixture([ListDocs(docs)], [1.0]))
    rows = [packer.next_row() for _ in range(40)]
    flat = [int(t) for ids, _ in rows for t in ids[:-1]]  # stride seq_len: drop each row's shared last token
    stream = [t for d in itertools.islice(itertools.cycle(docs), 200) for t in d]  # ListDocs cycles
    assert flat == stream[: len(flat)]
    for ids, starts in rows:
        assert ids.shape == starts.shape == (seq_len + 1,)
        for pos, tok in enumerate(ids):
            assert bool(starts[pos]) == (int(tok) % 1000 == 0)  # a document's first token is j == 0


def _segments(batch: dict) -> list[list[int]]:
    cu = batch["cu_seqlens"].tolist()
    flat = batch["input_ids"].flatten().tolist()
    return [flat[a:b] for a, b in itertools.pairwise(cu)]


def test_cu_seqlens_split_exactly_at_documents_and_rows():
    B, T = 4, 16
    packer = Packer(T, Mixture([ListDocs(_docs(60))], [1.0]))
    for _ in range(6):
        rows, starts = zip(*(packer.next_row() for _ in range(B)))
        batch = make_batch(list(rows), list(starts), boundaries=True)
        cu = batch["cu_seqlens"]
        assert cu.dtype == torch.int32 and cu[0] == 0 and cu[-1] == B * T
        assert set(range(0, B * T + 1, T)) <= set(cu.tolist())  # every row boundary (what HybridLM requires)
        assert torch.all(cu[1:] > cu[:-1])
        for seg in _segments(batch):
            assert len({_doc_of(t) for t in seg}) == 1  # a segment never holds two documents
        # Consecutive segments of one row hold different documents: the split is exactly at each start.
        ids, labels = batch["input_ids"], batch["labels"]
        for b in range(B):
            for t in range(T):
                nxt = int(rows[b][t + 1])
                crosses = _doc_of(nxt) != _doc_of(int(ids[b, t]))
                assert (int(labels[b, t]) == IGNORE) == crosses
                if not crosses:
                    assert int(labels[b, t]) == nxt


def test_without_boundaries_batches_are_plain_shifted_rows():
    packer = Packer(8, Mixture([ListDocs(_docs(10))], [1.0]))
    rows, starts = zip(*(packer.next_row() for _ in range(3)))
    batch = make_batch(list(rows), list(starts), boundaries=False)
    assert set(batch) == {"input_ids", "labels"}
    assert torch.equal(batch["labels"][:, :-1], batch["input_ids"][:, 1:])


def test_a_document_cut_at_a_row_end_continues_as_a_new_segment():
    packer = Packer(10, Mixture([ListDocs([list(range(25))])], [1.0]))  # one 25-token document, repeated
    rows, starts = zip(*(packer.next_row() for _ in range(2)))
    batch = make_batch(list(rows), list(starts), boundaries=True)
    assert batch["input_ids"][1, 0] == 10  # row 1 continues the document
    assert batch["cu_seqlens"].tolist() == [0, 10, 20]
    assert (batch["labels"] != IGNORE).all()  # the document goes on: nothing to mask


def test_text_batches_segments_start_with_bos_or_a_row_and_end_at_eos(tmp_path, corpus):
    _, files = corpus
    dm = build_datamodule(text_cfg(files, tmp_path))
    bos, eos = dm.tokenizer.bos_id, dm.tokenizer.eos_id
    T = dm.cfg.seq_len
    for batch in itertools.islice(iter(dm.train_dataloader()), 5):
        batch = dm.consume(batch)
        cu = batch["cu_seqlens"].tolist()
        flat = batch["input_ids"].flatten().tolist()
        for a, b in itertools.pairwise(cu):
            seg = flat[a:b]
            assert seg[0] == bos or a % T == 0
            assert bos not in seg[1:] and eos not in seg[:-1]  # one document per segment
        labels = batch["labels"].flatten().tolist()
        assert all(lab == IGNORE for tok, lab in zip(flat, labels) if tok == eos)  # nothing predicted across


@pytest.mark.parametrize("flag", [True, False])
def test_synthetic_stream_emits_cu_seqlens_when_asked(flag):
    dm = build_datamodule(DataConfig(seq_len=64, batch_size=3, pack_boundaries=flag))
    batch = dm.consume(next(iter(dm.train_dataloader())))
    assert ("cu_seqlens" in batch) == flag
    if flag:
        cu = batch["cu_seqlens"].tolist()
        flat = batch["input_ids"].flatten().tolist()
        expected = sorted({i for i, t in enumerate(flat) if t == VOCAB.bos_id} | set(range(0, 3 * 64 + 1, 64)))
        assert cu == expected
        val = next(iter(dm.val_dataloader()))
        assert "cu_seqlens" in val and int(val["cu_seqlens"][-1]) == val["input_ids"].numel()
    else:
        assert torch.equal(batch["labels"][:, :-1], batch["input_ids"][:, 1:])


def test_mixture_gives_each_source_its_token_share():
    long_docs, short_docs = ListDocs([[1] * 50]), ListDocs([[2] * 3])
    mix = Mixture([long_docs, short_docs], [0.8, 0.2])
    counts = {1: 0, 2: 0}
    for _ in range(500):
        doc, _ = mix.next_doc()
        counts[int(doc[0])] += len(doc)
    share = counts[1] / (counts[1] + counts[2])
    assert abs(share - 0.8) < 0.01  # by tokens, though the documents are 17x longer
    with pytest.raises(ValueError, match="at least one > 0"):
        Mixture([long_docs], [0.0])


def test_text_and_synthetic_tasks_mix_by_tokens(tmp_path, corpus):
    _, files = corpus
    dm = build_datamodule(text_cfg(files, tmp_path, synthetic_weight=0.3, seq_len=64))
    ids = torch.cat([dm.consume(b)["input_ids"].flatten() for b in itertools.islice(iter(dm.train_dataloader()), 30)])
    ids = ids.tolist()  # one slot's consecutive rows: the packed stream itself
    starts = [i for i, t in enumerate(ids) if t == dm.tokenizer.bos_id]
    tokens = {"text": 0, "tasks": 0}
    for a, b in itertools.pairwise(starts):  # whole documents only
        body = dm.tokenizer.decode(ids[a + 1 : b - 1])
        tokens["text" if body.startswith("doc ") else "tasks"] += b - a
    assert abs(tokens["tasks"] / sum(tokens.values()) - 0.3) < 0.06
    assert "<|query|>" in dm.tokenizer.decode(ids) or "<|user|>" in dm.tokenizer.decode(ids)


def test_unscore_continued_drops_the_labels_of_a_document_begun_in_an_earlier_row():
    packer = Packer(10, Mixture([ListDocs([list(range(25))])], [1.0]))  # one 25-token document, repeated
    rows, starts = zip(*(packer.next_row() for _ in range(3)))
    plain = make_batch(list(rows), list(starts), boundaries=False)
    batch = make_batch(list(rows), list(starts), boundaries=False, unscore_continued=True)
    assert torch.equal(batch["labels"][0], plain["labels"][0])  # row 0 starts with the document: all kept
    assert (batch["labels"][1] == IGNORE).all()  # row 1 is inside the document begun in row 0
    # Row 2 holds tokens 20..24 of the first copy, then the second copy from its start (its row index 5).
    assert (batch["labels"][2, :4] == IGNORE).all() and torch.equal(batch["labels"][2, 4:], plain["labels"][2, 4:])
