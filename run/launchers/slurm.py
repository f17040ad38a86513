"""Run a study's cells on Slurm through submitit: one job array, one task per cell, each running `run.cell.run_cell`
in the job's own Python process (so Lightning's SLURMEnvironment receives the job's signals).

Per cell: `--ntasks-per-node=gpus_per_cell` tasks under srun (Lightning reads the ranks from Slurm), `--gpus-per-node`,
`--signal=USR1@<signal_delay_s>` and `--requeue`: on the warning (time limit or preemption) the run saves at the next
step boundary and Lightning's SLURMEnvironment requeues the job (run/signals.py); the requeued job resumes from that
checkpoint (the cell's argv carries resume=auto).
Submitit is used rather than Hydra's submitit launcher because our configs are composed by run/load.py, not Hydra.
Job ids go to <study>/slurm/jobs.json, so a relaunch waits on cells still queued instead of submitting them twice.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from run.cell import read_status, write_status
from run.errors import ConfigError
from run.launchers.config import LauncherConfig
from run.study import Cell

ROOT = Path(__file__).resolve().parents[2]
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
         "SPECIAL_EXIT"}
"""Slurm job states after which a job never runs again (PREEMPTED and REQUEUED jobs come back)."""


def check_slurm() -> None:
    """ConfigError unless this machine can submit: sbatch/squeue on PATH and submitit importable."""
    missing = [c for c in ("sbatch", "squeue", "scontrol") if shutil.which(c) is None]
    if missing:
        raise ConfigError(f"launcher=slurm needs Slurm's {', '.join(missing)} on PATH (run this on a login node; "
                          "launcher=local runs on this machine)")
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError("launcher=slurm needs submitit: pip install submitit") from None


def _sbatch_extra(lines: list[str]) -> dict[str, Any]:
    """['--qos=high', '--exclusive'] -> {'qos': 'high', 'exclusive': True} (submitit's additional_parameters)."""
    out: dict[str, Any] = {}
    for line in lines:
        key, eq, value = line[2:].partition("=")
        out[key.replace("-", "_")] = value if eq else True
    return out


def executor(cfg: LauncherConfig, folder: Path, job_name: str) -> Any:
    import submitit

    ex = submitit.SlurmExecutor(folder=str(folder / "%j"), max_num_timeout=1000)
    tasks = max(1, cfg.gpus_per_cell)
    params: dict[str, Any] = {
        "job_name": job_name, "time": cfg.time_min, "nodes": 1, "ntasks_per_node": tasks,
        "signal_delay_s": cfg.signal_delay_s, "array_parallelism": cfg.array_parallelism, "stderr_to_stdout": True,
        "setup": [*cfg.setup, f"cd {ROOT}", f"export PYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"],
        # Lightning's SLURMEnvironment listens for SIGUSR1 (submitit's own handler waits for USR2, never sent).
        "additional_parameters": {"signal": f"USR1@{cfg.signal_delay_s}", "requeue": True,
                                  **_sbatch_extra(cfg.extra_sbatch)},
    }
    if cfg.gpus_per_cell:
        params["gpus_per_node"] = cfg.gpus_per_cell
    else:  # CPU cells sharing a node: torch takes the task's CPUs, not every core of the node
        params["setup"].append("export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}")
    for key, value in (("partition", cfg.partition), ("account", cfg.account), ("cpus_per_task", cfg.cpus_per_task),
                       ("mem", f"{cfg.mem_gb:g}GB" if cfg.mem_gb else None)):
        if value is not None:
            params[key] = value
    ex.update_parameters(**params)
    return ex


def job_states(job_ids: list[str]) -> dict[str, str]:
    """job id (123_4 for an array task) -> Slurm state, for the jobs squeue still knows (it forgets ended jobs
    after MinJobAge, 300 s by default; a job it does not list has ended)."""
    if not job_ids:
        return {}
    arrays = sorted({j.split("_")[0] for j in job_ids})
    proc = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(arrays)],
                          capture_output=True, text=True, check=False)
    states = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        states[job] = state
    return states


def _jobs_file(study_dir: Path) -> Path:
    return study_dir / "slurm" / "jobs.json"


def _read_jobs(study_dir: Path) -> dict[str, str]:
    try:
        return json.loads(_jobs_file(study_dir).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def submit(cells: list[Cell], cfg: LauncherConfig, study_dir: Path) -> dict[str, str]:
    """Submit the cells as one job array; returns cell name -> job id (also merged into slurm/jobs.json)."""
    from run.cell import run_cell

    ex = executor(cfg, study_dir / "slurm", job_name=study_dir.name)
    specs = [{"name": c.name, "run_dir": str(c.run_dir.resolve()), "argv": c.argv} for c in cells]
    for c in cells:
        c.run_dir.mkdir(parents=True, exist_ok=True)
    jobs = ex.map_array(run_cell, specs)
    ids = {c.name: j.job_id for c, j in zip(cells, jobs)}
    record = {**_read_jobs(study_dir), **ids}
    path = _jobs_file(study_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    return ids


def launch_slurm(cells: list[Cell], cfg: LauncherConfig, study_dir: Path) -> dict[str, dict[str, Any]] | None:
    """Submit every unfinished cell not already queued, then (with cfg.wait) wait for all; returns the statuses, or
    None without waiting. Finished cells are never resubmitted."""
    known = _read_jobs(study_dir)
    states = job_states([known[c.name] for c in cells if c.name in known])
    in_flight = {c.name: known[c.name] for c in cells
                 if c.name in known and states.get(known[c.name], "ENDED") not in ENDED}
    todo = [c for c in cells if read_status(c.run_dir).get("state") != "done" and c.name not in in_flight]
    waiting = dict(in_flight)
    if in_flight:
        print(f"already queued or running: {', '.join(f'{n} (job {j})' for n, j in in_flight.items())}")
    if todo:
        ids = submit(todo, cfg, study_dir)
        print(f"submitted {len(todo)} cells: " + ", ".join(f"{n} (job {j})" for n, j in ids.items()), flush=True)
        waiting.update(ids)
    else:
        print("nothing to submit: every cell is finished or queued", flush=True)
    if not cfg.wait:
        print(f"not waiting (launcher.wait=false); the same command again waits for them and writes the report. "
              f"Logs: {study_dir / 'slurm'}")
        return None
    last: dict[str, str] = {}
    while waiting:
        states = job_states(list(waiting.values()))
        for name, job in list(waiting.items()):
            state = states.get(job, "ENDED")
            if state != last.get(name):
                print(f"[{time.strftime('%H:%M:%S')}] {name} (job {job}): {state.lower()}", flush=True)
                last[name] = state
            if state in ENDED or state == "ENDED":
                del waiting[name]
                _settle(next(c for c in cells if c.name == name), job, state, study_dir)
        if waiting:
            time.sleep(cfg.poll_s)
    sys.stdout.flush()
    return {c.name: read_status(c.run_dir) for c in cells}


def _settle(cell: Cell, job: str, state: str, study_dir: Path) -> None:
    """A job ended: if its cell never recorded an end (killed, out of time without a requeue), record one."""
    status = read_status(cell.run_dir)
    if status.get("state") in ("done", "failed"):
        return
    status.update(state="failed", job_id=job,
                  error=f"the Slurm job ended ({state.lower()}) before the cell finished; its log is in "
                        f"{study_dir / 'slurm' / job.split('_')[0]}*; a relaunch resumes it")
    write_status(cell.run_dir, status)
