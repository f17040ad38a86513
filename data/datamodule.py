"""The Lightning side of the data: an endless, resumable training stream and a fixed, finite validation set.

`PackedDataModule` is what every data source shares: the training DataLoader over PackedBatches (sharded by rank,
accumulated micro-batch and DataLoader worker, data/shards.py; resolved in the rank's own process), the resume
bookkeeping (`state_dict` / `load_state_dict` go into Lightning checkpoints; `on_before_batch_transfer` records what
the trainer consumed), and a validation set drawn once from the "val" split of the same sources with rank 0's seed,
so every validation run scores the same rows; under DDP Lightning's distributed sampler splits that set across
ranks. A source is a ShardSources factory: data/synthetic/datamodule.py plugs in the task generators,
data/text/datamodule.py the text.
"""
from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from data.config import DataConfig
from data.mixture import NoDocuments
from data.packing import Packer, make_batch
from data.resume import ResumeTracker
from data.shards import ShardLayout
from data.stream import PackedBatches, ShardSources, current_rank, current_world_size, strip_state


class _Rows(Dataset):
    """A finite, map-style set of packed rows held as (N, seq_len + 1) ids and document-start masks."""

    def __init__(self, ids: torch.Tensor, starts: torch.Tensor) -> None:
        self.ids = ids  # (N, seq_len + 1)
        self.starts = starts  # (N, seq_len + 1)

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.ids[i].numpy(), self.starts[i].numpy()


class PackedDataModule(L.LightningDataModule):
    """Training and validation batches from `self.sources` (set by the subclass); resumable from checkpoints."""

    sources: ShardSources
    boundaries_default: bool = False

    def __init__(self, cfg: DataConfig) -> None:
        super().__init__()
        for key in ("seq_len", "batch_size"):
            if getattr(cfg, key) < 1:
                raise ValueError(f"data.{key}={getattr(cfg, key)} must be >= 1")
        for key in ("num_workers", "val_batches"):
            if getattr(cfg, key) < 0:
                raise ValueError(f"data.{key}={getattr(cfg, key)} must be >= 0")
        self.cfg = cfg
        self.boundaries = self.boundaries_default if cfg.pack_boundaries is None else bool(cfg.pack_boundaries)
        self.unscore_continued = False  # the synthetic module turns it on for data.loss_on=answers
        self.resume = ResumeTracker()
        self._val: _Rows | None = None

    @property
    def vocab_size(self) -> int:
        """Number of token ids the model must embed."""
        raise NotImplementedError

    def train_stream(self, rank: int | None = None, world: int | None = None,
                     accumulate: int | None = None) -> PackedBatches:
        """This rank's training batches, continuing from the consumed state (restored or tracked so far).

        `accumulate` is the trainer's micro-batches per optimizer step (default: the attached trainer's, else 1).
        """
        rank = current_rank() if rank is None else rank
        world = current_world_size() if world is None else world
        if accumulate is None:
            trainer = getattr(self, "trainer", None)
            accumulate = int(trainer.accumulate_grad_batches) if trainer is not None else 1
        layout = ShardLayout(world, accumulate, max(1, self.cfg.num_workers))
        start, states = self.resume.start(rank, layout)
        return PackedBatches(self.sources, self.cfg.seq_len, self.cfg.batch_size, self.boundaries, layout=layout,
                             rank=rank, start=start, states=states, unscore_continued=self.unscore_continued)

    def train_dataloader(self) -> DataLoader:
        workers = self.cfg.num_workers
        return DataLoader(self.train_stream(), batch_size=None, num_workers=workers,
                          persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())

    def consume(self, batch: dict) -> dict:
        """Record a training batch as consumed (its resume tag) and return it without the tag."""
        batch, tag = strip_state(batch)
        if tag is not None:
            self.resume.record(tag)
        return batch

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        # Called by the trainer for the batch it is about to train on, not for batches prefetched behind it.
        return self.consume(batch)

    def state_dict(self) -> dict:
        return {"stream": self.resume.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.resume.load_state_dict(state_dict["stream"])

    def val_rows(self) -> _Rows:
        """The validation set: val_batches * batch_size rows, generated once and reused (fewer if the text runs out)."""
        if self._val is None:
            n, width = self.cfg.val_batches * self.cfg.batch_size, self.cfg.seq_len + 1
            ids, starts = [], []
            if n:
                packer = Packer(self.cfg.seq_len, self.sources.mixture("val", 0, 1))
                try:
                    for _ in range(n):
                        row, start = packer.next_row()
                        ids.append(torch.from_numpy(row.astype(np.int64)))
                        starts.append(torch.from_numpy(start))
                except NoDocuments:
                    pass  # a corpus without a validation document: an empty validation set
            self._val = _Rows(torch.stack(ids) if ids else torch.empty(0, width, dtype=torch.long),
                              torch.stack(starts) if starts else torch.empty(0, width, dtype=torch.bool))
        return self._val

    def _collate(self, items: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
        rows, starts = zip(*items)
        return make_batch(list(rows), list(starts), self.boundaries, self.unscore_continued)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_rows(), batch_size=self.cfg.batch_size, shuffle=False, collate_fn=self._collate)
