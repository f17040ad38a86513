"""The trained model with its full weights on global rank 0, whatever the strategy: what probes and reports read.

DDP and one device keep a full copy per rank: that copy is returned. FSDP keeps a shard of every weight per rank:
the full state dict is gathered onto rank 0 (a collective: every rank must call this) and loaded into a plain
HybridLM there, on the module's device; other ranks get None.
"""
from __future__ import annotations

import lightning as L
from lightning.pytorch.strategies import FSDPStrategy

from hybrid.lm import HybridLM


def full_model(trainer: L.Trainer, module: L.LightningModule) -> HybridLM | None:
    """Rank 0: a HybridLM with the full weights (the module's own one unless sharded); other ranks: None."""
    if not isinstance(trainer.strategy, FSDPStrategy):
        return module.model if trainer.is_global_zero else None
    state = trainer.strategy.lightning_module_state_dict()  # full weights on rank 0, {} elsewhere
    if not trainer.is_global_zero:
        return None
    model = HybridLM(module.model_cfg)
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    return model.to(module.device)
