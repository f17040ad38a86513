"""Exact resume: which training batches were consumed, per shard, saved in and restored from Lightning checkpoints.

The tracker records the resume tag of every batch the trainer takes (data/stream.py), keeping per global shard the
latest packer state and the rank's count of consumed batches. Its `state_dict` is what the DataModule returns to
Lightning; under DDP/FSDP every rank contributes its shards (all_gather_object, called on every rank because
Lightning dumps checkpoints on all ranks and writes rank 0's), so a checkpoint holds every shard's position.

A checkpoint restores into any layout with the same data order (data/shards.py): the same micro-batches per step
over all ranks (devices x trainer.accumulate) and the same data.num_workers, e.g. 2 devices -> 1 device with
trainer.accumulate=2, token-exactly, at a step boundary. Any other layout would train on other documents than the
run it continues (and on another global batch), so it is refused with a one-line message saying what would match.
"""
from __future__ import annotations

import torch

from data.shards import ShardLayout

FORMAT = 2


class ResumeTracker:
    """Consumed-batch bookkeeping of one rank: the packer state of each shard it read and its batch count."""

    def __init__(self) -> None:
        self.layout, self.rank = ShardLayout(), 0
        self.consumed = 0
        self.states: list[dict | None] = [None]  # per global shard
        self._pending: dict | None = None  # a loaded checkpoint state, applied when the layout is known

    def start(self, rank: int, layout: ShardLayout) -> tuple[int, list[dict | None]]:
        """Fix the layout of this run; returns (batches consumed so far, per-shard states) to start the stream from."""
        if self._pending is not None:
            saved, self._pending = self._pending, None
            self.consumed, self.states = _continue(saved, rank, layout), list(saved["states"])
        elif (rank, layout) != (self.rank, self.layout):
            self.consumed, self.states = 0, [None] * layout.num_shards
        self.rank, self.layout = rank, layout
        return self.consumed, list(self.states)

    def record(self, tag: dict) -> None:
        """Note one consumed training batch from its resume tag {shard, state}."""
        self.states[int(tag["shard"])] = tag["state"]
        self.consumed += 1

    def local_state(self) -> dict:
        """This rank's part: its consumed count and the states of its shards."""
        mine = self.layout.rank_shards(self.rank)
        return {"rank": self.rank, "consumed": self.consumed, "shards": mine, "states": [self.states[g] for g in mine]}

    def state_dict(self) -> dict:
        """Every rank's position; gathers the ranks' parts under torch.distributed."""
        local = self.local_state()
        if torch.distributed.is_available() and torch.distributed.is_initialized() and self.layout.world > 1:
            parts: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(parts, local)
        else:
            parts = [local]
        return merge(self.layout, parts)

    def load_state_dict(self, state: dict) -> None:
        fmt = int(state.get("format", -1))
        if fmt == 1:
            state = _from_format_1(state)
        elif fmt != FORMAT:
            raise ValueError(f"the checkpoint's data state has format {state.get('format')!r}; "
                             f"this code reads format {FORMAT}")
        self._pending = state


def check_continues(state: dict, layout: ShardLayout) -> None:
    """ValueError (one line) unless a checkpoint's data state (the DataModule's "stream" entry) continues exactly
    under `layout`; lets a launcher refuse before anything is built."""
    tracker = ResumeTracker()
    tracker.load_state_dict(state)
    _continue(tracker._pending, 0, layout)


def merge(layout: ShardLayout, parts: list[dict]) -> dict:
    """The checkpoint's data state from every rank's `local_state()` (all `layout.world` of them)."""
    if sorted(p["rank"] for p in parts) != list(range(layout.world)):
        raise ValueError(f"need one part per rank 0..{layout.world - 1}, got ranks {[p['rank'] for p in parts]}")
    states: list[dict | None] = [None] * layout.num_shards
    consumed = [0] * layout.world
    for part in parts:
        consumed[part["rank"]] = int(part["consumed"])
        for g, s in zip(part["shards"], part["states"]):
            states[g] = s
    return {"format": FORMAT, "world": layout.world, "accumulate": layout.accumulate, "workers": layout.workers,
            "consumed": consumed, "states": states}


def saved_layout(state: dict) -> ShardLayout:
    return ShardLayout(int(state["world"]), int(state["accumulate"]), int(state["workers"]))


def _continue(saved: dict, rank: int, layout: ShardLayout) -> int:
    """The batches this rank has consumed when the saved stream continues under `layout`; ValueError if it can't."""
    before = saved_layout(saved)
    if before == layout:
        return int(saved["consumed"][rank])
    if not layout.same_data_order(before):
        raise ValueError(
            f"the checkpoint's data stream ran on {before.describe()}, this run on {layout.describe()}; continuing "
            f"it exactly needs devices x trainer.accumulate = {before.lanes} and {_workers(before.workers)} "
            f"(e.g. trainer.devices=1 trainer.accumulate={before.lanes})")
    consumed = {int(c) for c in saved["consumed"]}
    steps, rest = divmod(consumed.pop(), before.accumulate)
    if consumed or rest:
        raise ValueError(f"the checkpoint was saved inside an accumulation window (batches consumed per rank: "
                         f"{saved['consumed']}); resume it with its own layout, {before.describe()}")
    return steps * layout.accumulate


def _workers(slots: int) -> str:
    return f"data.num_workers={slots}" if slots > 1 else "data.num_workers=0 or 1"


def _from_format_1(state: dict) -> dict:
    """A one-rank checkpoint of the earlier per-rank format (its slots are this format's shards, in order)."""
    if int(state["world"]) != 1:
        raise ValueError(f"the checkpoint's data state (format 1) ran on {state['world']} ranks; only one-rank "
                         f"states of that format can be read, resume it with the code that wrote it")
    entry = state["ranks"][0]
    return {"format": FORMAT, "world": 1, "accumulate": 1, "workers": int(entry["slots"]),
            "consumed": [int(entry["consumed"])], "states": list(entry["states"])}
