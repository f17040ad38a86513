"""The training stream of one rank as a torch IterableDataset of whole batches, each tagged with its resume state.

Each DataLoader worker serves one logical *slot* (0..slots-1) of the rank; slot s of rank r is global shard
r * slots + s of world * slots. A worker builds its slot's document Mixture, packs it into rows and yields batches of
consecutive rows; every batch carries, under STATE_KEY, {slot, the packer state after the batch}. The DataModule
pops that tag when the trainer takes the batch (data/resume.py), so the saved state is what was *consumed*, never
what workers had prefetched.

The DataLoader hands out worker batches round robin (worker 0, 1, ...). After n consumed batches the next one is due
from slot n % slots, so a restored stream starts worker p on slot (p + phase) % slots with phase = n % slots, and
the batch order continues exactly.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

import torch
from torch.utils.data import IterableDataset, get_worker_info

from data.mixture import Mixture
from data.packing import Packer, make_batch

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
    """Builds the document Mixture of one shard; must be picklable (it travels to DataLoader workers)."""

    def mixture(self, split: str, rank: int, world: int, slot: int, slots: int) -> Mixture: ...


class PackedBatches(IterableDataset):
    """Endless batches {input_ids, labels (B, seq_len)[, cu_seqlens], STATE_KEY} of rank `rank` of `world`."""

    def __init__(
        self,
        sources: ShardSources,
        seq_len: int,
        batch_size: int,
        boundaries: bool,
        rank: int = 0,
        world: int = 1,
        slots: int = 1,
        phase: int = 0,
        states: list[dict | None] | None = None,
        unscore_continued: bool = False,
    ) -> None:
        super().__init__()
        self.sources, self.seq_len, self.batch_size, self.boundaries = sources, seq_len, batch_size, boundaries
        self.unscore_continued = unscore_continued
        self.rank, self.world, self.slots, self.phase = rank, world, slots, phase
        self.states = states or [None] * slots

    def slot_batches(self, slot: int) -> Iterator[dict]:
        """The endless batches of one slot (what the worker serving it yields)."""
        packer = Packer(self.seq_len, self.sources.mixture("train", self.rank, self.world, slot, self.slots))
        if self.states[slot] is not None:
            packer.restore(self.states[slot])
        while True:
            rows, starts = zip(*(packer.next_row() for _ in range(self.batch_size)))
            batch = make_batch(list(rows), list(starts), self.boundaries, self.unscore_continued)
            batch[STATE_KEY] = {"slot": slot, "state": packer.state()}
            yield batch

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        workers = info.num_workers if info is not None else 1
        if workers != self.slots:
            raise ValueError(f"this stream has {self.slots} slots but runs on {workers} DataLoader workers")
        worker = info.id if info is not None else 0
        return self.slot_batches((worker + self.phase) % self.slots)


def strip_state(batch: dict) -> tuple[dict, dict | None]:
    """The batch without its resume tag, and the tag (None for batches without one, e.g. validation)."""
    if isinstance(batch, dict) and STATE_KEY in batch:
        batch = dict(batch)
        return batch, batch.pop(STATE_KEY)
    return batch, None

