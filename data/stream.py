"""The training stream of one rank as a torch IterableDataset of whole batches, each tagged with its resume state.

The rank reads the shards of its local slots (data/shards.py: which global shard a slot is, and which slot each
consumed batch reads). A slot builds its shard's document Mixture, packs it into rows and makes batches of
consecutive rows; every batch carries, under STATE_KEY, {shard, the packer state after the batch}. The DataModule
pops that tag when the trainer takes the batch (data/resume.py), so the saved state is what was *consumed*, never
what workers had prefetched.

The DataLoader hands out worker batches round robin (worker 0, 1, ...), so after `start` consumed batches worker w
serves batches start + w, start + w + W, ... and the batch order continues exactly after a restore.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

import torch
from torch.utils.data import IterableDataset, get_worker_info

from data.mixture import Mixture
from data.packing import Packer, make_batch
from data.shards import ShardLayout

STATE_KEY = "stream_state"
"""Key of the resume tag in a training batch; removed before the batch reaches the model."""


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


class ShardSources(Protocol):
    """Builds the document Mixture of shard `shard` of `num_shards`; must be picklable (it travels to workers)."""

    def mixture(self, split: str, shard: int, num_shards: int) -> Mixture: ...


class PackedBatches(IterableDataset):
    """Endless batches {input_ids, labels (B, seq_len)[, cu_seqlens], STATE_KEY} of rank `rank` of `layout`."""

    def __init__(
        self,
        sources: ShardSources,
        seq_len: int,
        batch_size: int,
        boundaries: bool,
        layout: ShardLayout | None = None,
        rank: int = 0,
        start: int = 0,
        states: list[dict | None] | None = None,
        unscore_continued: bool = False,
    ) -> None:
        super().__init__()
        self.sources, self.seq_len, self.batch_size, self.boundaries = sources, seq_len, batch_size, boundaries
        self.unscore_continued = unscore_continued
        self.layout = layout or ShardLayout()
        self.rank, self.start = rank, start
        self.states = states or [None] * self.layout.num_shards  # per global shard

    @property
    def slots(self) -> int:
        return self.layout.slots

    def slot_batches(self, slot: int) -> Iterator[dict]:
        """The endless batches of one local slot (its global shard), from its saved state."""
        shard = self.layout.shard(self.rank, slot)
        packer = Packer(self.seq_len, self.sources.mixture("train", shard, self.layout.num_shards))
        if self.states[shard] is not None:
            packer.restore(self.states[shard])
        while True:
            rows, starts = zip(*(packer.next_row() for _ in range(self.batch_size)))
            batch = make_batch(list(rows), list(starts), self.boundaries, self.unscore_continued)
            batch[STATE_KEY] = {"shard": shard, "state": packer.state()}
            yield batch

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        workers = info.num_workers if info is not None else 1
        if workers != self.layout.workers:
            raise ValueError(f"this stream has {self.layout.workers} worker slot(s) but runs on {workers} "
                             "DataLoader workers")
        worker = info.id if info is not None else 0
        return self._worker_batches(worker)

    def _worker_batches(self, worker: int) -> Iterator[dict]:
        slots: dict[int, Iterator[dict]] = {}
        n = self.start + worker
        while True:
            slot = self.layout.slot_of_batch(n)
            if slot not in slots:
                slots[slot] = self.slot_batches(slot)
            yield next(slots[slot])
            n += self.layout.workers


def strip_state(batch: dict) -> tuple[dict, dict | None]:
    """The batch without its resume tag, and the tag (None for batches without one, e.g. validation)."""
    if isinstance(batch, dict) and STATE_KEY in batch:
        batch = dict(batch)
        return batch, batch.pop(STATE_KEY)
    return batch, None

