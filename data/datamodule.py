"""The Lightning side of the synthetic data: an endless training stream and a fixed, finite validation set.

The training stream is sharded by rank (resolved here, in the rank's own process, where torch.distributed is up)
and by DataLoader worker. The validation rows are one global set drawn from the "val" split with rank 0's seed and
materialised once, so every validation run scores the same rows; under DDP Lightning's distributed sampler splits
that set across ranks.
"""
from __future__ import annotations

from itertools import islice

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from data.config import DataConfig
from data.synthetic import SyntheticStream, current_rank
from data.vocab import VOCAB, Vocab


class _Rows(Dataset):
    """A finite, map-style set of packed rows held as two (N, seq_len) tensors."""

    def __init__(self, input_ids: torch.Tensor, labels: torch.Tensor) -> None:
        self.input_ids = input_ids  # (N, seq_len)
        self.labels = labels  # (N, seq_len)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[i], "labels": self.labels[i]}


class SyntheticDataModule(L.LightningDataModule):
    """Synthetic task mixture from `cfg` (a DataConfig or the matching OmegaConf node)."""

    def __init__(self, cfg: DataConfig) -> None:
        super().__init__()
        for key in ("seq_len", "batch_size"):
            if getattr(cfg, key) < 1:
                raise ValueError(f"data.{key}={getattr(cfg, key)} must be >= 1")
        for key in ("num_workers", "val_batches"):
            if getattr(cfg, key) < 0:
                raise ValueError(f"data.{key}={getattr(cfg, key)} must be >= 0")
        self.cfg = cfg
        self.mixture = {str(k): float(v) for k, v in cfg.mixture.items()}
        # Build one stream now so a bad mixture fails at construction, not inside a worker.
        self._stream("train", rank=0)
        self._val: _Rows | None = None

    @property
    def vocab(self) -> Vocab:
        """The tokenizer that maps the task tokens to ids."""
        return VOCAB

    @property
    def vocab_size(self) -> int:
        """Number of token ids the model must embed."""
        return VOCAB.vocab_size

    def _stream(self, split: str, rank: int) -> SyntheticStream:
        return SyntheticStream(self.cfg.seq_len, self.mixture, seed=self.cfg.seed, split=split, rank=rank)

    def train_dataloader(self) -> DataLoader:
        workers = self.cfg.num_workers
        return DataLoader(
            self._stream("train", rank=current_rank()),
            batch_size=self.cfg.batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_rows(self) -> _Rows:
        """The validation set: val_batches * batch_size rows, generated once and reused."""
        if self._val is None:
            n = self.cfg.val_batches * self.cfg.batch_size
            rows = list(islice(self._stream("val", rank=0).rows(rank=0, worker=0), n))
            if rows:
                ids = torch.stack([r["input_ids"] for r in rows])  # (n, seq_len)
                labels = torch.stack([r["labels"] for r in rows])  # (n, seq_len)
            else:
                ids = labels = torch.empty(0, self.cfg.seq_len, dtype=torch.long)
            self._val = _Rows(ids, labels)
        return self._val

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_rows(), batch_size=self.cfg.batch_size, shuffle=False)
