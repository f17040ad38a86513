"""Exact resume: which training batches were consumed, per slot, saved in and restored from Lightning checkpoints.

The tracker records the resume tag of every batch the trainer takes (data/stream.py), keeping per slot the latest
packer state and the total count. Its `state_dict` is what the DataModule returns to Lightning; under DDP every rank
contributes its own entry (all_gather_object, called on every rank because Lightning dumps checkpoints on all ranks
and writes rank 0's), and on load each rank takes its own. A checkpoint restores only into the same layout (ranks x
DataLoader workers): another layout would put different documents on each shard, so it is refused with a message.
"""
from __future__ import annotations

import torch

FORMAT = 1


class ResumeTracker:
    """Consumed-batch bookkeeping of one rank: `slots` packer states and a count."""

    def __init__(self) -> None:
        self.rank, self.world, self.slots = 0, 1, 1
        self.consumed = 0
        self.states: list[dict | None] = [None]
        self._pending: dict | None = None  # a loaded checkpoint entry, applied when the layout is known

    def start(self, rank: int, world: int, slots: int) -> tuple[int, list[dict | None]]:
        """Fix the layout of this run; returns (phase, per-slot states) to start the stream from."""
        if self._pending is not None:
            entry, self._pending = self._pending, None
            saved_world = int(entry["world"])
            saved_slots = int(entry["ranks"][0]["slots"])
            if (saved_world, saved_slots) != (world, slots):
                raise ValueError(
                    f"the checkpoint's data stream ran on {saved_world} rank(s) x {saved_slots} worker slot(s), "
                    f"this run on {world} x {slots} (slots = max(1, data.num_workers)); resume with the same device "
                    "count and data.num_workers for an exact continuation")
            mine = entry["ranks"][rank]
            self.consumed, self.states = int(mine["consumed"]), list(mine["states"])
        elif (rank, world, slots) != (self.rank, self.world, self.slots):
            self.consumed, self.states = 0, [None] * slots
        self.rank, self.world, self.slots = rank, world, slots
        return self.consumed % slots, list(self.states)

    def record(self, tag: dict) -> None:
        """Note one consumed training batch from its resume tag {slot, state}."""
        self.states[int(tag["slot"])] = tag["state"]
        self.consumed += 1

    def local_state(self) -> dict:
        return {"slots": self.slots, "consumed": self.consumed, "states": list(self.states)}

    def state_dict(self) -> dict:
        """{format, world, ranks: [per-rank entry]}; gathers every rank's entry under torch.distributed."""
        local = self.local_state()
        if torch.distributed.is_available() and torch.distributed.is_initialized() and self.world > 1:
            entries: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(entries, local)
        else:
            entries = [local]
        return {"format": FORMAT, "world": len(entries), "ranks": entries}

    def load_state_dict(self, state: dict) -> None:
        if int(state.get("format", -1)) != FORMAT:
            raise ValueError(f"the checkpoint's data state has format {state.get('format')!r}; "
                             f"this code reads format {FORMAT}")
        self._pending = state
