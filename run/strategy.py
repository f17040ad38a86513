"""The Lightning strategy of trainer.strategy: names pass through, except `fsdp`, built here as full sharding with
one FSDP unit per block and full (rank-0, unsharded) checkpoints, so a checkpoint resumes under any strategy.

On the CPU (gloo) the same strategy runs through a subclass: Lightning refuses the FSDPStrategy class itself off CUDA
(an accelerator check) and hands torch's FSDP no device on the CPU, which torch then refuses; both are a matter of
naming the CPU, which the subclass does; its full checkpoints skip the offload to CPU (already there), which
torch's FSDP gets wrong for CPU tensors.
The CPU tests use it to check FSDP against DDP and accumulation without a GPU.
"""
from __future__ import annotations

import lightning.pytorch.strategies.fsdp as lightning_fsdp
import torch
from lightning.pytorch.strategies import FSDPStrategy, Strategy
from omegaconf import DictConfig
from torch.nn import Module

FSDP = "fsdp"
_lightning_full_state_dict_context = lightning_fsdp._get_full_state_dict_context


def _full_state_dict_context(module: Module, world_size: int, rank0_only: bool = True):
    """Lightning's full-state-dict context without offload_to_cpu for CPU modules: offloading CPU tensors makes
    torch's FSDP clone an unsharded parameter whose storage it already freed (a segfault on the first checkpoint)."""
    if next(module.parameters()).device.type != "cpu":
        return _lightning_full_state_dict_context(module, world_size, rank0_only)
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.api import FullOptimStateDictConfig

    return FSDP.state_dict_type(module=module, state_dict_type=StateDictType.FULL_STATE_DICT,
                                state_dict_config=FullStateDictConfig(offload_to_cpu=False, rank0_only=rank0_only),
                                optim_state_dict_config=FullOptimStateDictConfig(offload_to_cpu=False,
                                                                                 rank0_only=rank0_only))


class CPUFSDPStrategy(FSDPStrategy):
    """FSDPStrategy on CPU processes (gloo); see the module docstring."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        lightning_fsdp._get_full_state_dict_context = _full_state_dict_context

    def _setup_model(self, model: Module) -> Module:
        # Lightning passes device_id=None on the CPU, which torch's FSDP takes as "find an accelerator" and refuses;
        # wrapped here with the CPU named, Lightning's setup then takes the model as already wrapped.
        from torch.distributed.fsdp import FullyShardedDataParallel

        if not any(isinstance(m, FullyShardedDataParallel) for m in model.modules()):
            model = FullyShardedDataParallel(module=model, cpu_offload=self.cpu_offload,
                                             mixed_precision=self.mixed_precision_config,
                                             sharding_strategy=self.sharding_strategy, device_id=torch.device("cpu"),
                                             **self.kwargs)
            self.kwargs.pop("auto_wrap_policy", None)
        return super()._setup_model(model)


def build_strategy(cfg: DictConfig, on_gpu: bool) -> str | Strategy:
    name = cfg.trainer.strategy
    if name != FSDP:
        return name
    from hybrid.block import Block

    cls = FSDPStrategy if on_gpu else CPUFSDPStrategy
    return cls(sharding_strategy="FULL_SHARD", auto_wrap_policy={Block}, state_dict_type="full")
