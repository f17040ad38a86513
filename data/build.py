"""Pick the DataModule for `data.name`; a new data source is one class plus one line in DATAMODULES."""
from __future__ import annotations

import lightning as L

from data.config import DataConfig
from data.synthetic.datamodule import SyntheticDataModule
from data.text.datamodule import TextDataModule

DATAMODULES: dict[str, type[L.LightningDataModule]] = {
    "synthetic": SyntheticDataModule,
    "text": TextDataModule,
}
"""data.name -> the DataModule class built from the DataConfig."""


def build_datamodule(cfg: DataConfig) -> L.LightningDataModule:
    """The DataModule named by `cfg.name`; an unknown name raises ValueError listing the valid ones."""
    if cfg.name not in DATAMODULES:
        raise ValueError(f"data.name={cfg.name!r} is unknown; valid: {', '.join(sorted(DATAMODULES))}")
    return DATAMODULES[cfg.name](cfg)
