"""AdamW with decoupled weight decay on matrices only, and the learning-rate schedules (warmup, then cosine or WSD)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List

import torch
from torch import nn
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule."""

    lr: float = 1e-3
    """Peak learning rate."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a fraction of lr."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay on weight matrices (never on norms, biases or gate parameters)."""
    betas: List[float] = field(default_factory=lambda: [0.9, 0.95])
    """AdamW (beta1, beta2)."""
    eps: float = 1e-8
    """AdamW epsilon."""
    warmup_steps: int = 100
    """Linear warmup from 0 to lr, in optimizer steps."""
    schedule: str = "cosine"
    """After warmup: cosine (to min_lr) | wsd (warmup-stable-decay: constant, then linear decay) | constant."""
    decay_fraction: float = 0.2
    """wsd: fraction of all steps spent in the final decay."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 disables clipping."""


SCHEDULES = ("cosine", "wsd", "constant")


def no_decay(name: str, param: nn.Parameter) -> bool:
    """Norm weights, biases and 1-D gate parameters (A_log, dt_bias, ...) get no weight decay."""
    return param.ndim < 2 or "norm" in name or name.endswith("bias") or getattr(param, "_no_weight_decay", False)


def no_decay_names(model: nn.Module) -> set[str]:
    """Names of the parameters that get no weight decay, read from the unwrapped model (FSDP flattens parameters
    into 1-D shards, so their shapes no longer tell a matrix from a gate)."""
    return {name for name, p in model.named_parameters() if no_decay(name, p)}


def _unwrapped_name(name: str) -> str:
    return name.replace("_fsdp_wrapped_module.", "")


def param_groups(model: nn.Module, weight_decay: float, skip_names: set[str] | None = None) -> list[dict]:
    """[decayed, not decayed] parameter groups; `skip_names` (from no_decay_names) decides when given."""
    decay, skip = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            skipped = no_decay(name, p) if skip_names is None else _unwrapped_name(name) in skip_names
            (skip if skipped else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": skip, "weight_decay": 0.0}]


def lr_factor(step: int, total: int, cfg: OptimConfig) -> float:
    """Multiplier of cfg.lr at optimizer step `step` (0-based) of `total`."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    floor = cfg.min_lr_ratio
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cosine":
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "wsd":
        decay_steps = max(1, int(cfg.decay_fraction * total))
        start = total - decay_steps
        if step < start:
            return 1.0
        return 1.0 - (1 - floor) * min(1.0, (step - start + 1) / decay_steps)  # reaches the floor on the last step
    raise ValueError(f"optim.schedule={cfg.schedule!r} is unknown; valid: {', '.join(SCHEDULES)}")


def build_optimizer(model: nn.Module, cfg: OptimConfig, total_steps: int, skip_names: set[str] | None = None):
    """Fused AdamW where the parameters' device has the fused kernel (CUDA, CPU, ...): one launch per step, and it
    takes the training module's device-side non-finite verdict (found_inf) without a host synchronisation."""
    fused = all(p.device.type in _get_fused_kernels_supported_devices() and p.is_floating_point()
                for p in model.parameters())
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay, skip_names), lr=cfg.lr, betas=tuple(cfg.betas),
                            eps=cfg.eps, fused=fused or None)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total_steps, cfg))
    return opt, sched


def name_keyed(opt_state: dict, names: list[str]) -> dict:
    """An optimizer state_dict keyed by parameter index -> keyed by parameter name, `names` in the optimizer's
    parameter order (its groups, concatenated). FSDP saves and loads name-keyed states; Lightning's own rekeying of an
    index-keyed one assumes the model's parameter order, which our [decay, no decay] groups do not follow."""
    groups = [{**g, "params": [names[i] if isinstance(i, int) else i for i in g["params"]]}
              for g in opt_state["param_groups"]]
    state = {names[k] if isinstance(k, int) else k: v for k, v in opt_state["state"].items()}
    return {**opt_state, "state": state, "param_groups": groups}
