"""`python train.py study=NAME [launcher=local|slurm] [launcher.<key>=v] [study.name=X] [--dry-run] [key=value ...]`
and the quick form `python train.py -m recipe=a,b seed=0,1,2 [key=value ...]` (comma lists make a grid).

study / -m -> cells -> every cell validated (one bad cell: one-line error, exit 2, nothing run or submitted) ->
study.json -> launcher (finished cells skipped, unfinished ones resumed) -> report (eval.compare) -> exit 0 when
every cell finished, 1 when one failed (its error is in the report and the summary printed here).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from run.errors import ConfigError
from run.launchers.config import LauncherConfig, launcher_config
from run.study import Cell, Study, baseline_group, expand, load_study, multirun_study, validate_cells

USAGE = ("usage: python train.py study=NAME [launcher=local|slurm] [launcher.KEY=V] [--dry-run] [key=value ...]\n"
         "       python train.py -m recipe=kda_3to1,gdn_3to1 seed=0,1,2 [--dry-run] [key=value ...]")


def is_study(argv: list[str]) -> bool:
    return any(a in ("-m", "--multirun") or a.startswith("study=") for a in argv)


def _parse(argv: list[str]) -> tuple[Study, list[str], LauncherConfig, bool]:
    flags = {a for a in argv if a.startswith("-")}
    for f in flags - {"-m", "--multirun", "--dry-run"}:
        raise ConfigError(f"unknown flag {f!r}; study flags: -m (comma lists make a grid), --dry-run")
    args = [a for a in argv if not a.startswith("-")]
    for a in args:
        if "=" not in a:
            raise ConfigError(f"argument {a!r} is not key=value\n{USAGE}")
    pairs = [a.split("=", 1) for a in args]
    study_names = [v for k, v in pairs if k == "study"]
    launcher: dict[str, str] = {}
    study_name = None
    overrides = []
    for k, v in pairs:
        if k == "study":
            continue
        if k == "launcher":
            launcher["kind"] = v
        elif k.startswith("launcher."):
            launcher[k[len("launcher."):]] = v
        elif k == "study.name":
            study_name = v
        elif k.startswith("study."):
            raise ConfigError(f"unknown study key {k!r}; on the command line only study.name=X (the directory "
                              "under out_dir); everything else goes in recipes/studies/<name>.yaml")
        else:
            overrides.append(f"{k}={v}")
    for a in overrides:
        if a.startswith("name="):
            raise ConfigError("name= is set per cell by the study (<design>-s<seed>); use study.name=X to rename "
                              "the study's directory")
    if len(study_names) > 1:
        raise ConfigError(f"study= given {len(study_names)} times; run one study at a time")
    multirun = "-m" in flags or "--multirun" in flags
    if study_names:
        study = load_study(study_names[0])
        if multirun or any(a.startswith("seed=") for a in overrides):  # comma lists add grid axes to the study's own
            extra, overrides = multirun_study(overrides)
            study.axes.update(extra.axes)
            if extra.seeds != [0] or any(a.startswith("seed=") for a in args):
                study.seeds = extra.seeds
    else:
        study, overrides = multirun_study(overrides)
    if study_name:
        study.name = study_name
    cfg = launcher_config(study.launcher, launcher)
    return study, overrides, cfg, "--dry-run" in flags


def _out_dir(overrides: list[str], study: Study) -> str:
    for a in overrides:
        if a.startswith("out_dir="):
            return a.split("=", 1)[1]
    return str(study.base.get("out_dir", "runs"))


def _cells(study: Study, overrides: list[str], cfg: LauncherConfig) -> list[Cell]:
    rest = [a for a in overrides if not a.startswith("out_dir=")]
    if cfg.kind == "slurm" and cfg.gpus_per_cell > 0 and not any(a.startswith("trainer.devices=") for a in rest):
        rest.append(f"trainer.devices={cfg.gpus_per_cell}")  # one task per GPU; Lightning reads Slurm's ranks
    return expand(study, rest, _out_dir(overrides, study))


def write_manifest(study: Study, cells: list[Cell], cfg: LauncherConfig, baseline: str, study_dir: Path) -> None:
    from dataclasses import asdict

    from run.load import load_run_config

    first = load_run_config(cells[0].argv)
    manifest: dict[str, Any] = {
        "name": study.name, "description": study.description, "baseline": baseline,
        "axes": {**{k: list(map(str, v)) if k == "recipe" else v for k, v in study.axes.items()},
                 **study.zip},
        "seeds": study.seeds, "launcher": asdict(cfg), "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wandb_project": first.trainer.wandb_project, "logger": first.trainer.logger,
        "cells": [{"name": c.name, "group": c.group, "seed": c.seed, "axes": c.axes, "argv": c.argv}
                  for c in cells],
    }
    study_dir.mkdir(parents=True, exist_ok=True)
    tmp = study_dir / "study.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, default=str))
    tmp.replace(study_dir / "study.json")


def left_out(study_dir: Path, cells: list[Cell]) -> list[str]:
    """Finished cells of the study directory's earlier manifest that this run's manifest (and so its report) drops:
    what narrowing a study with -m leaves out."""
    from run.cell import read_status

    try:
        earlier = json.loads((study_dir / "study.json").read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return []
    names = {c.name for c in cells}
    return [c["name"] for c in earlier
            if c["name"] not in names and read_status(study_dir / c["name"]).get("state") == "done"]


def print_left_out(study_dir: Path, cells: list[Cell]) -> None:
    dropped = left_out(study_dir, cells)
    if dropped:
        shown = ", ".join(dropped[:6]) + (", ..." if len(dropped) > 6 else "")
        print(f"note: the report will cover these {len(cells)} cells; {len(dropped)} finished cells of the earlier "
              f"manifest in {study_dir} are left out ({shown}): run the study without narrowing it to keep them",
              flush=True)


def print_cells(study: Study, cells: list[Cell], baseline: str, cfg: LauncherConfig) -> None:
    print(f"study {study.name}: {len(cells)} cells ({len({c.group for c in cells})} designs x "
          f"{len(study.seeds)} seeds), baseline {baseline}, launcher {cfg.kind}")
    for c in cells:
        axes = " ".join(f"{k}={v}" for k, v in c.axes.items())
        print(f"  {c.name:<28} {axes} seed={c.seed}  -> {c.run_dir}")
        print(f"      python train.py {' '.join(c.argv)}")


def main(argv: list[str]) -> int:
    try:
        study, overrides, cfg, dry = _parse(argv)
        cells = _cells(study, overrides, cfg)
        baseline = baseline_group(study, cells)
        validate_cells(cells)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    study_dir = cells[0].run_dir.parent
    if dry:
        print_cells(study, cells, baseline, cfg)
        print_left_out(study_dir, cells)
        return 0
    if cfg.kind == "slurm":
        from run.launchers.slurm import check_slurm

        try:
            check_slurm()
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print_left_out(study_dir, cells)
    write_manifest(study, cells, cfg, baseline, study_dir)
    print(f"study {study.name}: {len(cells)} cells in {study_dir} (launcher {cfg.kind})", flush=True)
    try:
        if cfg.kind == "slurm":
            from run.launchers.slurm import launch_slurm

            statuses = launch_slurm(cells, cfg, study_dir)
            if statuses is None:  # submitted without waiting
                return 0
        else:
            from run.launchers.local import launch_local

            statuses = launch_local(cells, cfg)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM to the local launcher (StudyStopped)
        queued = " (queued Slurm jobs keep running)" if cfg.kind == "slurm" else ""
        print(f"\ninterrupted{queued}; the same command resumes the study", file=sys.stderr)
        return 128 + getattr(e, "signum", 2)
    return finish(study_dir, statuses)


def finish(study_dir: Path, statuses: dict[str, dict[str, Any]]) -> int:
    """Print the cells' ends, write the report (and its W&B run when the cells log to W&B); 1 if a cell failed."""
    from eval.compare.report import write_report

    failed = {n: s for n, s in statuses.items() if s.get("state") != "done"}
    print(f"cells: {len(statuses) - len(failed)} finished, {len(failed)} not")
    for n, s in failed.items():
        print(f"  {n}: {s.get('state')}: {s.get('error') or '-'}")
    rep = write_report(study_dir)
    for g, v in rep.verdicts.items():
        print(f"{g}: {v}")
    print(f"report: {rep.md} and {rep.html} ({len(rep.plots)} plots)")
    if rep.study.manifest.get("logger") == "wandb":
        from eval.compare.wandb_report import log_report

        print(f"wandb report run: {log_report(rep)}")
    return 1 if failed else 0
