"""Do the probes separate architectures the way the literature does? Train several recipes alike, probe each, compare.

    python -m experiments.minimax_gap_validation.validate_gpu OUT_DIR [--size small] [--steps 250]
        [--max-train-s 90] [--examples 16] [--recipes full_attention,kda_3to1,...]
        [--readme experiments/minimax_gap_validation/README.md]

Every recipe is trained at one size with the same data, seed, steps and batch (so the same tokens), then probed with
the same examples; the first recipe (full_attention) is every other run's baseline, the ratios to it computed once all
have finished. Results go under OUT_DIR:
<recipe>/ (the run: checkpoints, probes.json, plots), compare/*.png (one panel per slice, one line per recipe),
table.md and validation.json; with --readme the table, the plots (copied next to the README) and the command replace
the block between the validation markers of that README. On a machine whose working tree does not come back (only
OUT_DIR does), run without --readme there and `python -m experiments.minimax_gap_validation.validate_gpu OUT_DIR
--apply --readme experiments/minimax_gap_validation/README.md` here afterwards.

The defaults aim at about 6-7 minutes on one H100 for the six recipes (8 at most): BENCHMARKS.md ("Training
throughput") measured size=small training at 85k (kda_3to1) to 209k (full_attention) tokens/s there, so 250 steps of
32 x 512 tokens (4.1M tokens) take 20-60 s per recipe, plus Triton compilation and about 10-20 s of probing at 16
examples per setting. A recipe whose training passes --max-train-s is stopped there (Lightning's Timer) so the whole
stays bounded; its row then shows fewer steps than the others, the script warns that the comparison is not like for
like, and --steps should come down.

Finished recipes are kept: each leaves <recipe>/validation_run.json, and a re-run of the same command into the same
OUT_DIR (same arguments for that recipe) reuses it instead of training again, so a validation cut off by a job's time
limit is completed by running the command once more.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

RECIPES = ("full_attention", "kda_3to1", "gdn_3to1", "lightning_7to1", "linear_3to1", "gdn_only")
"""Full attention (the baseline), three published hybrids, a plain-linear hybrid and a pure linear model."""
MIXTURE: dict[str, float] = {
    "mqar": 0.2, "multiturn": 0.15, "multihop": 0.1, "niah": 0.1, "copy": 0.1, "state": 0.1, "carryover": 0.1,
    "filler": 0.15,
}
"""Training mixture: every probe's task at its training lengths, plus filler text for the regular-prompt loss."""
MARK_START, MARK_END = "<!-- validation:start -->", "<!-- validation:end -->"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.minimax_gap_validation.validate_gpu",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", type=Path, help="where the runs, plots and table go")
    p.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated; the first is the baseline")
    p.add_argument("--size", default="small", help="size preset for every recipe (default: small)")
    p.add_argument("--steps", type=int, default=250, help="optimizer steps per recipe (default: 250)")
    p.add_argument("--batch-size", type=int, default=None, help="rows per step (default: the size preset's)")
    p.add_argument("--max-train-s", type=float, default=90.0, help="stop a recipe's training after this many seconds")
    p.add_argument("--examples", type=int, default=16, help="probe examples per setting (default: 16)")
    p.add_argument("--probes", default=None, help="comma-separated probes (default: all)")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers generating the synthetic data")
    p.add_argument("--jobs", type=int, default=1,
                   help="recipes trained at once on the one GPU, baseline included (small models leave it idle)")
    p.add_argument("--readme", type=Path, default=None, help="README to write the table and plots into")
    p.add_argument("--apply", action="store_true",
                   help="train nothing: write --readme from a finished OUT_DIR (e.g. one fetched from the GPU machine)")
    p.add_argument("--extra", action="append", default=[], help="another key=value for every run (repeatable)")
    args = p.parse_args(argv)
    if args.apply and args.readme is None:
        p.error("--apply needs --readme PATH (the README to write into)")
    if args.steps < 1 or args.examples < 1 or args.max_train_s <= 0 or args.jobs < 1:
        p.error(f"--steps={args.steps}, --examples={args.examples}, --max-train-s={args.max_train_s}, "
                f"--jobs={args.jobs} must be > 0")
    return args


def run_argv(args: argparse.Namespace, recipe: str) -> list[str]:
    """The train.py-style arguments of one recipe's run."""
    argv = [f"recipe={recipe}", f"size={args.size}", f"name={recipe}", f"out_dir={args.out_dir}",
            f"trainer.max_steps={args.steps}", f"trainer.val_every={args.steps}", f"trainer.ckpt_every={args.steps}",
            "trainer.logger=csv", "trainer.progress_bar=false", f"data.num_workers={args.workers}",
            f"eval.examples={args.examples}", "eval.every=0", "eval.at_end=true",
            # A short run cannot spend the preset's warmup (100 steps at small) on 40% of its steps.
            f"optim.warmup_steps={max(1, min(100, args.steps // 10))}"]
    argv += [f"data.mixture.{task}={weight}" for task, weight in MIXTURE.items()]
    if args.batch_size:
        argv.append(f"data.batch_size={args.batch_size}")
    if args.probes:
        argv.append(f"eval.probes=[{args.probes}]")
    return argv + list(args.extra)


def train_and_probe(argv: list[str], max_train_s: float) -> dict[str, Any]:
    """Build and fit one run as train.py does (plus a wall-clock cap), then probe it; returns its timings."""
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import Timer

    from data.build import build_datamodule
    from eval.finish import probe_after_training
    from run.build import build_module, build_trainer, make_run_dir, run_name
    from run.load import load_run_config

    cfg = load_run_config(argv)
    cfg.name = run_name(cfg)
    L.seed_everything(cfg.seed, verbose=False)
    datamodule = build_datamodule(cfg.data)
    module = build_module(cfg, datamodule.vocab_size)
    stale = Path(cfg.out_dir) / cfg.name
    if stale.exists():  # this driver's own run of an earlier config: retrained from scratch, so replaced whole
        shutil.rmtree(stale)
    run_dir = make_run_dir(cfg)
    trainer = build_trainer(cfg, run_dir, extra_callbacks=[Timer(duration=timedelta(seconds=max_train_s))])
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    train_s = time.perf_counter() - start
    val = trainer.callback_metrics.get("val/loss")
    start = time.perf_counter()
    probe_after_training(module.model, cfg, run_dir, trainer.global_step)
    probe_s = time.perf_counter() - start
    info = {"run_dir": str(run_dir), "steps": trainer.global_step, "train_s": train_s, "probe_s": probe_s,
            "tokens": trainer.global_step * cfg.data.batch_size * cfg.data.seq_len,
            "val_loss": float(val) if val is not None else None,
            "params": module.model.num_params(non_embedding=False), "layout": module.model.layout_str}
    del module, trainer, datamodule
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return info


RUN_RECORD = "validation_run.json"


def reusable(args: argparse.Namespace, recipe: str, argv: list[str]) -> dict[str, Any] | None:
    """The timings of an earlier run of this recipe in OUT_DIR with the same arguments."""
    record = args.out_dir / recipe / RUN_RECORD
    if not record.is_file():
        return None
    saved = json.loads(record.read_text())
    if saved.get("argv") != argv or not (Path(saved["info"]["run_dir"]) / "probes.json").is_file():
        return None
    return saved["info"]


def train_or_reuse(args: argparse.Namespace, recipe: str) -> dict[str, Any]:
    """Train and probe one recipe, or reuse its finished run; record it for the next re-run. Picklable for spawn."""
    argv = run_argv(args, recipe)
    info = reusable(args, recipe, argv)
    if info is not None:
        return {**info, "reused": True}
    info = train_and_probe(argv, args.max_train_s)
    record = Path(info["run_dir"]) / RUN_RECORD
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"argv": argv, "info": info}, indent=1))
    tmp.replace(record)
    return info


def run_all(args: argparse.Namespace, recipes: list[str], wall: float) -> dict[str, dict[str, Any]]:
    """Train and probe every recipe, one after another, or --jobs at a time each in a fresh spawned process (CUDA
    cannot be forked). The ratios to the baseline are computed afterwards. Returns each recipe's timings, in order."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    def done(recipe: str, info: dict[str, Any]) -> None:
        reused = " (reused from an earlier run)" if info.pop("reused", False) else ""
        print(f"--- {recipe}: {info['steps']} steps, train {info['train_s']:.0f}s, probes {info['probe_s']:.0f}s"
              f"{reused} ({time.perf_counter() - wall:.0f}s elapsed)", flush=True)

    runs: dict[str, dict[str, Any]] = {}
    if args.jobs == 1:
        for i, recipe in enumerate(recipes):
            print(f"=== {recipe} ({i + 1}/{len(recipes)})", flush=True)
            runs[recipe] = train_or_reuse(args, recipe)
            done(recipe, runs[recipe])
        return runs
    print(f"=== {', '.join(recipes)} ({args.jobs} at a time)", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {r: pool.submit(train_or_reuse, args, r) for r in recipes}
        for recipe, future in futures.items():
            runs[recipe] = future.result()
            done(recipe, runs[recipe])
    return runs


def environment() -> dict[str, str]:
    """Device, versions and commit, as the benchmark records in benchmarks/results/ carry them."""
    import torch

    from run.commit import short_commit

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.processor() or 'cpu'})"
    return {"device": device, "torch": torch.__version__, "python": platform.python_version(), "commit": short_commit(),
            "date": time.strftime("%Y-%m-%d")}


def report_markdown(runs: dict[str, dict[str, Any]], results: dict[str, dict[str, Any]], env: dict[str, str],
                    command: str, plots: list[str], jobs: int = 1, regular_kinds: list[str] | None = None) -> str:
    """The block that goes into the README: provenance, the per-run table and links to the comparison plots."""
    from eval.report.summary import markdown_table

    names = list(runs)
    lines = [f"Command: `{command}`", "",
             f"{env['device']}, torch {env['torch']}, commit {env['commit']}, {env['date']}. "
             f"Ratios in parentheses are to {names[0]} (1.00 = as good; for the loss, baseline loss / run loss)."
             + (f" The runs trained {jobs} at a time on the one device, so their times are shared."
                if jobs > 1 else "")
             + (f" The regular-prompt loss averages the {' and '.join(regular_kinds)} documents."
                if regular_kinds else ""), "",
             "| run | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
             "| layout | " + " | ".join(f"`{runs[n]['layout']}`".replace("|", "\\|") for n in names) + " |",
             "| steps (tokens) | " + " | ".join(f"{runs[n]['steps']} ({runs[n]['tokens'] / 1e6:.1f}M)" for n in names)
             + " |",
             "| train / probe time | " + " | ".join(f"{runs[n]['train_s']:.0f}s / {runs[n]['probe_s']:.0f}s"
                                                   for n in names) + " |",
             "", markdown_table({n: results[n]["summary"] for n in names}), ""]
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines)


def update_readme(readme: Path, block: str) -> None:
    """Replace the text between the validation markers (appending the markers if the README lacks them)."""
    text = readme.read_text() if readme.is_file() else "# Probes\n"
    inner = f"{MARK_START}\n{block}\n{MARK_END}"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + inner + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## GPU validation\n\n" + inner + "\n"
    readme.write_text(text)


def apply_to_readme(out_dir: Path, readme: Path) -> None:
    """Write a finished validation (OUT_DIR/validation.json + compare/*.png) into `readme`, figures beside it."""
    data = json.loads((out_dir / "validation.json").read_text())
    figures = readme.parent / "validation"
    figures.mkdir(parents=True, exist_ok=True)
    plots = sorted((out_dir / "compare").glob("*.png"))
    for p in plots:
        shutil.copy(p, figures / p.name)
    results = {name: {"summary": rows} for name, rows in data["summary"].items()}
    update_readme(readme, report_markdown(data["runs"], results, data["env"], data["command"],
                                          [f"validation/{p.name}" for p in plots], data.get("jobs", 1),
                                          data.get("regular_kinds")))
    print(f"wrote the table and {len(plots)} plots into {readme}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.apply:
        if not (args.out_dir / "validation.json").is_file():
            missing = args.out_dir / "validation.json"
            print(f"error: {missing} does not exist; run the validation first", file=sys.stderr)
            return 2
        apply_to_readme(args.out_dir, args.readme)
        return 0
    from eval.report.plots import plot_comparison
    from eval.report.summary import gap_rows, load_results
    from run.errors import ConfigError

    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m experiments.minimax_gap_validation.validate_gpu " + " ".join(shlex.quote(a) for a in argv)
    wall = time.perf_counter()
    try:
        runs = run_all(args, recipes, wall)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    results = {r: load_results(runs[r]["run_dir"]) for r in recipes}
    for r in recipes[1:]:  # every run against the first, computed here so the baseline may train alongside
        results[r]["summary"] = gap_rows(results[r], results[recipes[0]])
    short = [r for r in recipes if runs[r]["steps"] < args.steps]
    if short:
        print(f"warning: {', '.join(short)} stopped early at --max-train-s={args.max_train_s}: not like for like; "
              "lower --steps", file=sys.stderr)
    plots = plot_comparison(results, args.out_dir / "compare")
    env = environment()
    links = [f"compare/{p.name}" for p in plots]
    kinds = results[recipes[0]]["config"].get("regular_kinds")
    block = report_markdown(runs, results, env, command, links, args.jobs, kinds)
    (args.out_dir / "table.md").write_text(block + "\n")
    (args.out_dir / "validation.json").write_text(json.dumps(
        {"command": command, "env": env, "jobs": args.jobs, "regular_kinds": kinds, "runs": runs,
         "summary": {r: results[r]["summary"] for r in recipes}},
        indent=1))
    if args.readme is not None:
        apply_to_readme(args.out_dir, args.readme)
    print(f"done in {time.perf_counter() - wall:.0f}s: {args.out_dir / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
