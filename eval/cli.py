"""`python -m eval ckpt=PATH [probes=[mqar,copy]] [key=value ...]`: run the probe suite on a checkpoint.

Writes probes.json and PNG plots into the checkpoint's run directory (or out=DIR) and prints the MiniMax-gap
summary. Keys are EvalConfig fields (`examples=8`, or `eval.examples=8` as train.py spells them) plus ckpt, out and
device; defaults come from EvalConfig, then the run's own config.yaml `eval:` section, then the command line.
Mistakes exit with code 2 and a one-line error before the model is loaded, as train.py does.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

CLI_KEYS = ("ckpt", "out", "device")


def usage() -> str:
    from eval.config import EvalConfig
    from run.help import field_docs

    lines = ["usage: python -m eval ckpt=PATH [out=DIR] [device=auto|cpu|cuda] [key=value ...]",
             "  ckpt     a train.py checkpoint (<run_dir>/checkpoints/*.ckpt); results go to its run dir",
             "  out      write probes.json and plots here instead of the run dir",
             "  device   auto (cuda when available) | cpu | cuda", "eval keys (also accepted as eval.<key>):"]
    defaults = EvalConfig()
    for key, doc in field_docs(EvalConfig).items():
        lines.append(f"  {key:<18} {getattr(defaults, key)!s:<14} {doc}")
    return "\n".join(lines)


def parse(argv: list[str]) -> tuple[dict[str, str], Any]:
    """argv -> ({ckpt, out, device}, the merged EvalConfig as a DictConfig); raises ConfigError on any mistake."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from eval.checkpoint import run_dir_of
    from eval.config import EvalConfig
    from run.errors import ConfigError, closest

    special: dict[str, str] = {"out": "", "device": "auto"}
    dotlist: list[str] = []
    fields = list(EvalConfig.__dataclass_fields__)
    for arg in argv:
        if "=" not in arg or arg.startswith("="):
            raise ConfigError(f"argument {arg!r} is not key=value (e.g. ckpt=runs/x/checkpoints/last.ckpt examples=8)")
        key, value = arg.split("=", 1)
        key = key.removeprefix("eval.")
        if key in CLI_KEYS:
            special[key] = value
        elif key in fields:
            dotlist.append(f"{key}={value}")
        else:
            hits = closest(key, [*CLI_KEYS, *fields])
            hint = f"; did you mean {' or '.join(repr(h) for h in hits)}?" if hits else ""
            raise ConfigError(f"unknown key {key!r}{hint} (`python -m eval --help` lists them)")
    if "ckpt" not in special:
        raise ConfigError("ckpt=PATH is required (a .ckpt file from a run's checkpoints/)")
    ckpt = Path(special["ckpt"])
    if not ckpt.is_file():
        raise ConfigError(f"ckpt={special['ckpt']!r} does not exist; pass a .ckpt file from a run's checkpoints/")

    cfg = OmegaConf.structured(EvalConfig)
    run_cfg = run_dir_of(ckpt) / "config.yaml"
    try:
        if run_cfg.is_file():
            run_eval = OmegaConf.select(OmegaConf.load(run_cfg), "eval")
            if run_eval is not None:
                cfg = OmegaConf.merge(cfg, run_eval)
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(dotlist))
    except OmegaConfBaseException as e:
        msg = str(getattr(e, "msg", e)).splitlines()[0]
        where = getattr(e, "full_key", None)
        raise ConfigError(f"command line: {where + ': ' if where else ''}{msg}") from None
    return special, cfg


def checkpoint_context(loaded: Any, cfg: Any) -> Any:
    """The probes' tokens for a loaded checkpoint: its saved tokenizer on a text run (held-out text read again from
    the run's data settings in config.yaml), the word vocabulary otherwise."""
    from eval.context import WORDS, ProbeContext, context_from_data
    from eval.scoring.render import TextRenderer

    if loaded.tokenizer is None:
        if cfg.shots:
            raise ValueError(f"shots={cfg.shots} needs a text run's checkpoint; {loaded.run_dir.name} was trained on "
                             "the synthetic tasks themselves (shots=0 or null)")
        return WORDS
    if loaded.run_config is None:
        if cfg.regular_docs or cfg.shots is None:
            raise ValueError(f"the text checkpoint's folder {loaded.run_dir} has no config.yaml naming its held-out "
                             "text and task share; pass regular_docs=0 and shots=K (0: zero-shot)")
        return ProbeContext(TextRenderer(loaded.tokenizer))
    return context_from_data(loaded.tokenizer, loaded.run_config.data)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(usage())
        return 0
    from omegaconf import OmegaConf

    from eval.checkpoint import load_checkpoint, pick_device
    from eval.suite import check_config
    from run.errors import ConfigError

    try:
        special, node = parse(argv)
        cfg = OmegaConf.to_object(node)
        check_config(cfg)
        device = pick_device(special["device"])
        loaded = load_checkpoint(special["ckpt"], device)
        context = checkpoint_context(loaded, cfg)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from eval.finish import run_and_report

    out_dir = Path(special["out"]) if special["out"] else loaded.run_dir
    recipe = OmegaConf.select(loaded.run_config, "recipe") if loaded.run_config is not None else None
    meta = {"ckpt": str(special["ckpt"]), "step": loaded.step, "recipe": recipe, "device": str(device),
            "torch": torch.__version__}
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("probes", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        run_and_report(loaded.model, cfg, out_dir, meta, progress=progress,
                       title=f"{loaded.run_dir.name} step {loaded.step}", context=context)
    return 0
