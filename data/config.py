"""DataConfig: what the training and validation data are, one documented field each (litgpt style).

Types stay OmegaConf-structured-config friendly (plain scalars, Dict[str, float]) so a typo in a recipe or an
override is caught when the run config is composed, before any data is generated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict  # noqa: UP035 -- typing.Dict, as the structured-config convention asks


def _default_mixture() -> dict[str, float]:
    return {"mqar": 0.3, "multiturn": 0.3, "multihop": 0.2, "filler": 0.2}


@dataclass
class DataConfig:
    """Training and validation data for a run."""

    name: str = "synthetic"
    """Which data module: synthetic (embedded seeded task generators, no network)."""
    seq_len: int = 512
    """Tokens per training row (the model's context length during training)."""
    batch_size: int = 16
    """Rows per optimizer step per device."""
    num_workers: int = 0
    """DataLoader worker processes per device (0 generates in the training process)."""
    seed: int = 0
    """Seed of the data stream; each (rank, worker) derives its own stream from it."""
    mixture: Dict[str, float] = field(default_factory=_default_mixture)  # noqa: UP006
    """Task name -> sampling weight (relative, per document) in the synthetic training mixture."""
    val_batches: int = 8
    """Batches in the fixed validation set (the same rows every validation run)."""
