"""The synthetic training stream: task documents drawn by mixture weight, packed back to back into fixed rows.

Each document is "<|bos|> prompt answer <|eos|>" from one task generator at that task's TRAIN_AXES. Documents are
concatenated and cut into rows of seq_len + 1 tokens with a stride of seq_len, so consecutive rows share one boundary
token: every token is an input exactly once and a label exactly once, a document that does not fit continues in the
next row, and nothing is dropped. Document starts are the <|bos|> positions, from which a model can derive
cu_seqlens if it wants attention not to cross documents.

Every (split, seed, rank, worker) gets its own random.Random seeded with a string that spells all four out, so the
streams are reproducible across processes and machines and no two shards ever share a seed (Python seeds a string
injectively). The "val" split uses the same construction with another prefix, hence seeds disjoint from training.
"""
from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping

import torch
from torch.utils.data import IterableDataset, get_worker_info

from data.tasks import TASKS, sample_axes
from data.vocab import VOCAB, Vocab

SPLITS = ("train", "val")


def current_rank() -> int:
    """This process's global rank: torch.distributed if initialised, else env RANK, else 0."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def current_world_size() -> int:
    """Number of ranks: torch.distributed if initialised, else env WORLD_SIZE, else 1."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


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
    ) -> None:
        super().__init__()
        if seq_len < 1:
            raise ValueError(f"seq_len={seq_len} must be >= 1")
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is unknown; valid: {', '.join(SPLITS)}")
        for name, weight in mixture.items():
            if name not in TASKS:
                raise ValueError(f"mixture task {name!r} is unknown; valid: {', '.join(sorted(TASKS))}")
            if weight < 0:
                raise ValueError(f"mixture weight {name}={weight} must be >= 0")
        if sum(mixture.values()) <= 0:
            raise ValueError(f"mixture {dict(mixture)} needs at least one positive weight")
        self.seq_len = seq_len
        self.mixture = {name: float(w) for name, w in mixture.items() if w > 0}
        self.seed = seed
        self.split = split
        self.rank = rank
        self.vocab = vocab

    def stream_key(self, rank: int, worker: int) -> str:
        """The string that seeds the shard (rank, worker); distinct tuples give distinct strings, hence seeds."""
        return f"synthetic/{self.split}/seed={self.seed}/rank={rank}/worker={worker}"

    def documents(self, rng: random.Random) -> Iterator[list[int]]:
        """Endless token-id documents "<|bos|> prompt answer <|eos|>", tasks drawn by mixture weight."""
        names = list(self.mixture)
        weights = list(self.mixture.values())
        tasks = [TASKS[n] for n in names]
        bos, eos = self.vocab.bos_id, self.vocab.eos_id
        while True:
            task = rng.choices(tasks, weights)[0]
            example = task.make(rng, **sample_axes(task.TRAIN_AXES, rng))
            yield [bos, *self.vocab.encode(example.tokens), eos]

    def rows(self, rank: int = 0, worker: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Endless packed rows of the shard (rank, worker)."""
        rng = random.Random(self.stream_key(rank, worker))
        width = self.seq_len + 1
        buf: list[int] = []
        for doc in self.documents(rng):
            buf += doc
            while len(buf) >= width:
                row = torch.tensor(buf[:width], dtype=torch.long)  # (seq_len + 1,)
                yield {"input_ids": row[:-1], "labels": row[1:]}
                del buf[: self.seq_len]  # keep the boundary token: it is the next row's first input

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        rank = self.rank if self.rank is not None else current_rank()
        return self.rows(rank=rank, worker=worker)
