"""Loading a trained model for probing: a Lightning checkpoint -> HybridLM on a device, plus its run's context.

A checkpoint at <run_dir>/checkpoints/<name>.ckpt belongs to <run_dir>, whose config.yaml (written by train.py)
gives the recipe, the kernel backend and any `eval` settings of the run; a checkpoint anywhere else is its own run dir.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf


@dataclass
class Loaded:
    """A model ready to probe, and where it came from."""

    model: torch.nn.Module
    run_dir: Path
    step: int
    run_config: DictConfig | None
    """The run's config.yaml, when there is one."""
    tokenizer: Any = None
    """A text run's tokenizer (data.text.tokenizer.TextTokenizer), kept in its checkpoints; None: word vocabulary."""


def run_dir_of(ckpt: Path) -> Path:
    """<run_dir> for <run_dir>/checkpoints/x.ckpt; the checkpoint's own folder otherwise."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def pick_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; or exactly the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available; valid here: auto, cpu")
    return torch.device(name)


def load_checkpoint(path: str | Path, device: torch.device) -> Loaded:
    """Rebuild the HybridLM saved in a train.py checkpoint; a missing or foreign file raises ValueError."""
    import kernels
    from hybrid.train.module import HybridLMModule

    ckpt = Path(path)
    if not ckpt.is_file():
        raise ValueError(f"ckpt={str(path)!r} does not exist; pass a .ckpt file from a run's checkpoints/")
    try:
        state: dict[str, Any] = torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated, garbage or not a torch file: torch raises many kinds
        reason = (str(e).strip().splitlines() or [""])[0][:160]
        raise ValueError(f"ckpt={str(path)!r} is not a readable checkpoint ({type(e).__name__}: {reason})") from None
    if not isinstance(state, dict) or "hyper_parameters" not in state or "state_dict" not in state:
        raise ValueError(f"ckpt={str(path)!r} is not a train.py Lightning checkpoint (no hyper_parameters/state_dict)")
    run_dir = run_dir_of(ckpt)
    cfg_path = run_dir / "config.yaml"
    run_cfg = OmegaConf.load(cfg_path) if cfg_path.is_file() else None
    backend = OmegaConf.select(run_cfg, "kernels.backend", default="auto") if run_cfg is not None else "auto"
    kernels.set_backend(backend)
    module = HybridLMModule(**state["hyper_parameters"])
    module.load_state_dict(state["state_dict"])
    model = module.model.to(device).eval()
    return Loaded(model=model, run_dir=run_dir, step=int(state.get("global_step", 0)), run_config=run_cfg,
                  tokenizer=saved_tokenizer(state, ckpt))


def saved_tokenizer(state: dict[str, Any], ckpt: Path) -> Any:
    """The text tokenizer a TextDataModule saved in the checkpoint (Lightning files it under the class name)."""
    from data.text.datamodule import TOKENIZER_KEY
    from data.text.tokenizer import TextTokenizer

    for value in state.values():
        if isinstance(value, dict) and isinstance(value.get(TOKENIZER_KEY), str):
            return TextTokenizer.from_json(value[TOKENIZER_KEY], name=f"{ckpt.name}'s tokenizer")
    return None
