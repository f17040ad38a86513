"""The synthetic training stream: task documents drawn by mixture weight, packed back to back into fixed rows.

Each document is "<|bos|> prompt answer <|eos|>" from one task generator at that task's TRAIN_AXES. Documents are
concatenated and cut into rows of seq_len + 1 tokens with a stride of seq_len, so consecutive rows share one boundary
token: every token is an input exactly once and a label exactly once, a document that does not fit continues in the
next row, and nothing is dropped (data/packing.py). With `boundaries` the rows also carry where documents start,
from which a batch gets its cu_seqlens.

Each shard (split, seed, rank, worker) has its own seed (`stream_key_for`); the "val" split uses the same construction
with another prefix, hence seeds disjoint from training. A shard's whole resume state is its generator's state
(`SyntheticDocs.state`) plus the packer's offset.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from data.mixture import Mixture
from data.packing import IGNORE, Packer, continued, split_scored
from data.stream import current_rank
from data.synthetic.docs import SyntheticDocs, vocab_encoder
from data.synthetic.task_mixture import check_mixture, draw_example_tokens
from data.synthetic.vocab import VOCAB, Vocab

SPLITS = ("train", "val")


class SyntheticStream(IterableDataset):
    """Infinite, seeded stream of packed rows {"input_ids": (seq_len,), "labels": (seq_len,)} of dtype int64.

    `rank=None` reads the rank when iteration starts; pass it explicitly when iterating in a process where
    torch.distributed is not initialised (DataLoader workers of a spawn-started DDP rank), as the DataModule does.
    """

    def __init__(
        self,
        seq_len: int,
        mixture: Mapping[str, float],
        seed: int = 0,
        split: str = "train",
        rank: int | None = None,
        vocab: Vocab = VOCAB,
        answers_only: bool = False,
    ) -> None:
        super().__init__()
        self.answers_only = answers_only
        if seq_len < 1:
            raise ValueError(f"seq_len={seq_len} must be >= 1")
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is unknown; valid: {', '.join(SPLITS)}")
        self.seq_len = seq_len
        self.mixture = check_mixture(mixture)
        self.seed = seed
        self.split = split
        self.rank = rank
        self.vocab = vocab

    @staticmethod
    def stream_key_for(split: str, seed: int, rank: int, worker: int) -> str:
        """The string that seeds a shard; distinct (split, seed, rank, worker) give distinct strings, hence seeds."""
        return f"synthetic/{split}/seed={seed}/rank={rank}/worker={worker}"

    def stream_key(self, rank: int, worker: int) -> str:
        """The string that seeds this stream's shard (rank, worker)."""
        return self.stream_key_for(self.split, self.seed, rank, worker)

    def documents(self, rng: random.Random) -> Iterator[list[int]]:
        """Endless token-id documents "<|bos|> prompt answer <|eos|>", tasks drawn by mixture weight."""
        names, weights = list(self.mixture), list(self.mixture.values())
        encode = vocab_encoder(self.vocab)
        while True:
            yield encode(draw_example_tokens(rng, names, weights)).tolist()

    def docs(self, rank: int = 0, worker: int = 0) -> SyntheticDocs:
        """The resumable document source of the shard (rank, worker): the same documents as `documents`."""
        return SyntheticDocs(self.mixture, self.stream_key(rank, worker), vocab_encoder(self.vocab), self.answers_only)

    def rows(self, rank: int = 0, worker: int = 0, boundaries: bool = False) -> Iterator[dict[str, torch.Tensor]]:
        """Endless packed rows of the shard (rank, worker); with `boundaries` also "starts" (seq_len + 1,) bool."""
        packer = Packer(self.seq_len, Mixture([self.docs(rank, worker)], [1.0]))
        while True:
            ids, starts = packer.next_row()
            row, scored = split_scored(torch.from_numpy(ids.astype(np.int64)))  # (seq_len + 1,)
            if self.answers_only:  # the tail of a document begun in the previous row: its prompt is out of sight
                scored = scored & ~continued(torch.from_numpy(starts))
            out = {"input_ids": row[:-1], "labels": torch.where(scored[1:], row[1:], IGNORE)}
            if boundaries:
                out["starts"] = torch.from_numpy(starts)
            yield out

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        rank = self.rank if self.rank is not None else current_rank()
        return self.rows(rank=rank, worker=worker)
