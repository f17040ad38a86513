"""Which data shard each training batch comes from, for any layout of ranks x accumulated micro-batches x workers.

An optimizer step consumes P = world x accumulate micro-batches ("lanes"); lane p = rank * accumulate + micro.
A rank's DataLoader workers (W = max(1, data.num_workers)) take batches round robin, so lane p is served by W
shards in turn: step t reads shard p + P * (t % W). The N = P x W shards partition the data (text: shard g of N;
synthetic: seed g), and which shard a step's lane reads depends on (P, W) only, never on how P splits into ranks
and accumulation. Hence 2 ranks x 1 micro-batch and 1 rank x 2 micro-batches train on the very same rows at every
step, and a checkpoint moves between them token-exactly.

Per rank, the S = accumulate x W local slots are taken in the order of consumed batches (batch n reads slot n % S);
worker w of W serves batches n = start + w, start + w + W, ...
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShardLayout:
    """How a run's micro-batches map to data shards: `world` ranks, `accumulate` micro-batches each, `workers`."""

    world: int = 1
    accumulate: int = 1
    workers: int = 1

    def __post_init__(self) -> None:
        for key in ("world", "accumulate", "workers"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}={getattr(self, key)} must be >= 1")

    @property
    def lanes(self) -> int:
        """Micro-batches per optimizer step, all ranks together (the global batch in rows / data.batch_size)."""
        return self.world * self.accumulate

    @property
    def num_shards(self) -> int:
        """Shards the training data is split into."""
        return self.lanes * self.workers

    @property
    def slots(self) -> int:
        """Shards one rank reads."""
        return self.accumulate * self.workers

    def shard(self, rank: int, slot: int) -> int:
        """Global shard of a rank's local slot: slot = micro + accumulate * (step % workers)."""
        if not (0 <= rank < self.world and 0 <= slot < self.slots):
            raise ValueError(f"rank {rank} slot {slot} is outside {self}")
        micro, turn = slot % self.accumulate, slot // self.accumulate
        return rank * self.accumulate + micro + self.lanes * turn

    def rank_shards(self, rank: int) -> list[int]:
        """The global shards of a rank's slots 0..slots-1."""
        return [self.shard(rank, s) for s in range(self.slots)]

    def slot_of_batch(self, consumed: int) -> int:
        """The local slot that a rank's batch number `consumed` (0-based) reads."""
        return consumed % self.slots

    def same_data_order(self, other: ShardLayout) -> bool:
        """Whether a stream saved under `other` continues token-exactly under this layout (at a step boundary)."""
        return (self.lanes, self.workers) == (other.lanes, other.workers)

    def describe(self) -> str:
        return (f"{self.world} rank(s) x {self.accumulate} accumulated micro-batch(es) x {self.workers} worker "
                f"slot(s)")
