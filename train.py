"""Train a hybrid linear-attention LM from a recipe: `python train.py recipe=kda_3to1 [size=tiny] [key=value ...]`;
or run a study, a grid of such runs: `python train.py study=minimax_gap [launcher=slurm]` / `-m recipe=a,b seed=0,1`.

recipe + presets + overrides -> RunConfig -> data, model, trainer -> fit. Config mistakes exit with code 2 and a
one-line error before anything is built or written.

Exit codes: 0 done; 1 diverged (trainer.max_nonfinite skipped steps in a row); 2 bad input, nothing written;
128 + N stopped by signal N (SIGTERM 143, SIGINT 130, SIGUSR1 138) after saving checkpoints/last.ckpt, which
`name=<run> resume=auto` continues.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from run.errors import ConfigError
    from run.preflight import prepare

    if any(a in ("-h", "--help", "help") for a in argv):
        from run.help import help_text

        print(help_text())
        return 0
    from run.study_cli import is_study

    if is_study(argv):  # study=NAME or -m: a grid of runs through a launcher
        from run.study_cli import main as study_main

        return study_main(argv)
    try:
        launch = prepare(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = launch.cfg

    import lightning as L
    from omegaconf import OmegaConf

    from data.build import build_datamodule
    from run import resume, run_dir as run_dirs
    from run.build import build_module, make_run_dir

    leader = run_dirs.is_leader()
    L.seed_everything(cfg.seed, verbose=False)
    if leader:
        print(OmegaConf.to_yaml(cfg), end="")
    try:
        datamodule = build_datamodule(cfg.data)
        module = build_module(cfg, datamodule.vocab_size)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model = module.model
    if leader:
        print(f"layout ({cfg.model.ratio if cfg.model.pattern is None else 'pattern'}): {model.layout_str}")
        print(f"linear: {cfg.model.linear.variant}   attention: {cfg.model.attention.type}   "
              f"params: {model.num_params(non_embedding=False) / 1e6:.2f}M "
              f"({model.num_params() / 1e6:.2f}M non-embedding)")
    run_dir = launch.run_dir
    if leader:
        try:
            make_run_dir(cfg, launch.resuming)
        except ConfigError as e:  # lost a race for the directory to another launch
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"run dir: {run_dir}" + (f"   resuming from {launch.ckpt_path}" if launch.ckpt_path else ""))
        run_dirs.share_with_ranks(cfg.name)  # spawned ranks re-run train.py with this environment
        resume.share_with_ranks(launch.ckpt_path)
    try:
        return _fit(cfg, run_dir, module, datamodule, launch.ckpt_path)
    finally:
        run_dirs.release(run_dir)
        if leader:  # the ranks have their copies; a later launch in this process chooses afresh
            for key in (run_dirs.NAME_ENV, resume.RESUME_ENV):
                os.environ.pop(key, None)


def _fit(cfg, run_dir, module, datamodule, ckpt_path: str | None) -> int:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from hybrid.train.module import NonFiniteLossError
    from run.build import build_trainer
    from run.signals import StopOnSignal, exit_code

    trainer = build_trainer(cfg, run_dir)
    stopper = next(c for c in trainer.callbacks if isinstance(c, StopOnSignal))
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (SIGTERMException, RuntimeError) as e:
        if not stopper.stopped_by(e):
            raise
        stopper.record_stop(e)  # fit ended by the stop signal; StopOnSignal saved the state
    finally:
        stopper.restore_handlers()
    if stopper.signum is not None:
        if trainer.is_global_zero:
            saved = f"saved {stopper.saved}" if stopper.saved else "no checkpoint written at this step"
            print(f"stopped by signal {stopper.signum} at step {trainer.global_step}; {saved}; "
                  f"continue with: name={cfg.name} resume=auto", file=sys.stderr)
        return exit_code(stopper.signum)
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")  # the final state, whatever ckpt_every was
    if cfg.eval.at_end:
        from hybrid.train.full_model import full_model

        model = full_model(trainer, module)  # a collective under FSDP: every rank gathers, rank 0 keeps the weights
    if not trainer.is_global_zero:
        return 0
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    summary = "   ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
    print(f"done: step {trainer.global_step}   {summary}")
    if cfg.eval.at_end:
        from eval.finish import probe_after_training

        probe_after_training(model, cfg, run_dir, trainer.global_step, datamodule)
    return 0


if __name__ == "__main__":
    sys.exit(main())
