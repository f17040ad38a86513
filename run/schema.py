"""RunConfig: the one structured config of a run, composed from each package's own dataclass.

Every field has a one-line docstring saying what it is and its unit; `python train.py --help` prints them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional  # noqa: UP035

from data.config import DataConfig
from eval.config import EvalConfig
from hybrid.config import ModelConfig
from hybrid.train.optim import OptimConfig
from kernels.config import KernelConfig


@dataclass
class TrainerConfig:
    """How Lightning runs the training loop."""

    max_steps: int = 2000
    """Optimizer steps to train for."""
    val_every: int = 250
    """Run validation every this many training steps."""
    log_every: int = 10
    """Log metrics every this many training steps."""
    ckpt_every: int = 500
    """Save a checkpoint every this many training steps (the last one is always kept as last.ckpt)."""
    accelerator: str = "auto"
    """Lightning accelerator: auto | cpu | gpu."""
    devices: str = "auto"
    """Devices per node: auto, or a count such as 2."""
    num_nodes: int = 1
    """Nodes in a multi-node job."""
    strategy: str = "auto"
    """Lightning strategy: auto | ddp | fsdp (full sharding, one unit per block; on GPUs or, with gloo, the CPU)."""
    accumulate: int = 1
    """Micro-batches of data.batch_size rows per device per optimizer step (gradient accumulation); the global batch
    is devices x num_nodes x accumulate x data.batch_size rows, so devices=2 equals devices=1 accumulate=2."""
    precision: str = "auto"
    """auto (bf16-mixed on GPU, 32-true on CPU) | 32-true | bf16-mixed | 16-mixed."""
    logger: str = "wandb"
    """Where metrics go: wandb (offline unless WANDB_MODE=online) | csv | none."""
    wandb_project: str = "hybrid-ablations"
    """W&B project name."""
    wandb_group: Optional[str] = None
    """W&B group; None: the recipe (a study sets its own name, so the project page groups the study's runs)."""
    wandb_tags: List[str] = field(default_factory=list)  # noqa: UP006
    """Extra W&B tags (a study adds its axis values and seed, e.g. recipe=kda_3to1, seed=1)."""
    max_nonfinite: int = 3
    """Halt after this many non-finite losses in a row (each one's step is skipped)."""
    peak_tflops: Optional[float] = None
    """Peak FLOP/s per device in TFLOP/s for MFU; None looks the GPU up (no MFU on CPU unless set)."""
    progress_bar: bool = True
    """Show a progress bar."""


@dataclass
class RunConfig:
    """A training run: recipe + size preset + overrides, resolved."""

    recipe: str = "kda_3to1"
    """Recipe name: recipes/<recipe>.yaml."""
    size: str = "small"
    """Size preset: recipes/size/<size>.yaml (tiny | small | base)."""
    name: Optional[str] = None
    """Run name; default <recipe>-<size>-<timestamp>. The run directory is <out_dir>/<name>."""
    out_dir: str = "runs"
    """Directory under which run directories are made."""
    seed: int = 0
    """Seed of the model init (the data stream has its own, data.seed)."""
    ckpt_path: Optional[str] = None
    """Resume training from this Lightning checkpoint (into this run's directory, appending to its history)."""
    resume: str = "never"
    """never | auto: continue <out_dir>/<name> from its newest valid checkpoint (a fresh start when it has none)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The hybrid model."""
    kernels: KernelConfig = field(default_factory=KernelConfig)
    """Which kernel implementation runs the linear mixers."""
    data: DataConfig = field(default_factory=DataConfig)
    """Training and validation data."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser and learning-rate schedule."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """The training loop."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """The probe suite: in-training callback, end-of-run suite and MiniMax-gap summary."""
