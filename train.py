"""Train a hybrid linear-attention LM from a recipe: `python train.py recipe=kda_3to1 [size=tiny] [key=value ...]`.

recipe + presets + overrides -> RunConfig -> data, model, trainer -> fit. Config mistakes exit with code 2 and a
one-line error before anything is built or written.
"""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from run.errors import ConfigError
    from run.load import load_run_config

    if any(a in ("-h", "--help", "help") for a in argv):
        from run.help import help_text

        print(help_text())
        return 0
    try:
        cfg = load_run_config(argv)
        if cfg.ckpt_path and not Path(cfg.ckpt_path).is_file():
            raise ConfigError(
                f"ckpt_path={cfg.ckpt_path!r} does not exist; pass a .ckpt file from a run's checkpoints/")
        from eval.suite import check_config

        try:
            check_config(cfg.eval)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import lightning as L
    from omegaconf import OmegaConf

    from data.build import build_datamodule
    from hybrid.train.module import NonFiniteLossError
    from run.build import build_module, build_trainer, make_run_dir, run_name

    cfg.name = run_name(cfg)
    L.seed_everything(cfg.seed, verbose=False)
    print(OmegaConf.to_yaml(cfg), end="")
    try:
        datamodule = build_datamodule(cfg.data)
        module = build_module(cfg, datamodule.vocab_size)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model = module.model
    print(f"layout ({cfg.model.ratio if cfg.model.pattern is None else 'pattern'}): {model.layout_str}")
    print(f"linear: {cfg.model.linear.variant}   attention: {cfg.model.attention.type}   "
          f"params: {model.num_params(non_embedding=False) / 1e6:.2f}M "
          f"({model.num_params() / 1e6:.2f}M non-embedding)")
    run_dir = make_run_dir(cfg)
    print(f"run dir: {run_dir}")
    trainer = build_trainer(cfg, run_dir)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")  # the final state, whatever ckpt_every was
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    summary = "   ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
    print(f"done: step {trainer.global_step}   {summary}")
    if cfg.eval.at_end and trainer.is_global_zero:
        from eval.finish import probe_after_training

        probe_after_training(module.model, cfg, run_dir, trainer.global_step, datamodule)
    return 0


if __name__ == "__main__":
    sys.exit(main())
