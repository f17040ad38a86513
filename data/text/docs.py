"""One shard of the text stream as tokenized documents: disjoint shards, a seeded shuffle, an exact resume point.

Shards: shard g of G (G = ranks x workers) takes `datasets.distributed.split_dataset_by_node(ds, g, G)`: whole files
(every G-th file) when there are at least G files, otherwise every G-th row; either way the shards partition the
stream. Whole files matter for Hub datasets: with row striding every shard would download everything.

Shuffle: rows are read in blocks of `block` rows; each block's documents are put in a seeded random order (the
seed spells out split, seed, shard, epoch and block). A block is a shuffle buffer whose contents never need saving:
it is re-read from its start. Documents are tokenized ENCODE_CHUNK at a time as they are needed, not a block at
once, so the work is spread evenly over batches and overlaps training (a DataLoader prefetches only a few batches).

Resume point: `state()` is the position of the next document, {epoch, the `datasets` state at the start of the
current block, block number, index in the block}; `load_state` reopens the stream there, re-reads that one block and
skips to the index, so what follows is identical. Epochs repeat the stream forever (local files in a new seeded
order each epoch); an epoch without a single document raises NoDocuments.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Callable

import numpy as np

from data.mixture import NoDocuments
from data.text.source import SPLITS, BadLines, TextSource


ENCODE_CHUNK = 32
"""Documents tokenized per call (one batched call amortises the tokenizer's overhead and uses its threads)."""


class TextDocs:
    """Endless token-id documents (each framed by the encoder) of shard `shard` of `num_shards`, in `split`."""

    def __init__(
        self,
        source: TextSource,
        encode_docs: Callable[[list[str]], list[np.ndarray]],
        shard: int = 0,
        num_shards: int = 1,
        split: str = "train",
        seed: int = 0,
        block: int = 1000,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is unknown; valid: {', '.join(SPLITS)}")
        if not 0 <= shard < num_shards:
            raise ValueError(f"shard={shard} is out of range for num_shards={num_shards}")
        if block < 1:
            raise ValueError(f"data.shuffle_buffer={block} must be >= 1")
        self.source, self.encode_docs = source, encode_docs
        self.shard, self.num_shards, self.split, self.seed, self.block = shard, num_shards, split, seed, block
        self.bad = BadLines(source.max_bad_lines)
        self._epoch, self._block_no, self._index = 0, 0, 0
        self._block_state: dict | None = None  # `datasets` state at the start of the current block; None: epoch start
        self._texts: list[str] = []  # the current block, shuffled
        self._encoded: list[np.ndarray] = []  # tokenized _texts[_encoded_from : _encoded_from + len(_encoded)]
        self._encoded_from = 0
        self._ds = None  # the open shard stream and its block iterator, opened lazily (picklable until used)
        self._it = None
        self._docs_this_epoch = 0

    def state(self) -> dict:
        """Where the next document comes from; plain types only (it is saved in checkpoints)."""
        return {"epoch": self._epoch, "hf": self._block_state, "block": self._block_no, "index": self._index}

    def load_state(self, state: dict) -> None:
        """Continue exactly from `state` (a value of `state()`): reopen, re-read its block, skip to its index."""
        self._epoch, self._block_state = int(state["epoch"]), copy.deepcopy(state["hf"])
        self._open(self._block_state)
        self._read_block(int(state["block"]))
        self._index = int(state["index"])
        self._docs_this_epoch = 1  # a resumed epoch had documents before this point

    def __iter__(self) -> TextDocs:
        return self

    def __next__(self) -> np.ndarray:
        while self._index >= len(self._texts):
            if self._it is None:
                self._open(None)
                self._read_block(0)
            else:
                self._block_state = copy.deepcopy(self._ds.state_dict())
                self._read_block(self._block_no + 1)
        i = self._index - self._encoded_from
        if not 0 <= i < len(self._encoded):
            self._encoded_from, i = self._index, 0
            self._encoded = self.encode_docs(self._texts[self._index : self._index + ENCODE_CHUNK])
        self._index += 1
        return self._encoded[i]

    def _open(self, hf_state: dict | None) -> None:
        from datasets.distributed import split_dataset_by_node

        ds = self.source.open(epoch=self._epoch, seed=self.seed)
        if self.num_shards > 1:
            strategy = "shards" if ds.num_shards >= self.num_shards else "examples"
            ds = split_dataset_by_node(ds, rank=self.shard, world_size=self.num_shards, strategy=strategy)
        if hf_state is not None:
            ds.load_state_dict(hf_state)
        self._ds, self._it = ds, ds.iter(batch_size=self.block)

    def _read_block(self, block_no: int) -> None:
        """Load block `block_no` (the next rows of the open stream) as shuffled documents."""
        while True:
            try:
                rows = next(self._it)
                break
            except StopIteration:  # end of the epoch: the next one starts at block 0
                if self._docs_this_epoch == 0:
                    raise NoDocuments(
                        f"{self.source.describe()} gave shard {self.shard} of {self.num_shards} no {self.split} "
                        "document in a whole pass; use fewer data.num_workers or devices, or more data") from None
                self._epoch, self._docs_this_epoch, self._block_state, block_no = self._epoch + 1, 0, None, 0
                self._open(None)
        texts = self.source.texts(self.source.column(rows), self.bad)
        texts = [t for t in texts if self.source.in_split(t, self.split)]
        key = (f"text/{self.split}/seed={self.seed}/shard={self.shard}of{self.num_shards}/epoch={self._epoch}"
               f"/block={block_no}")
        random.Random(key).shuffle(texts)
        self._block_no, self._index, self._texts, self._encoded = block_no, 0, texts, []
        self._docs_this_epoch += len(texts)
