"""The sbatch script the Slurm launcher writes for a 2-GPU cell, rendered by submitit from LauncherConfig, as shown
in docs/multi_gpu.md: `python -m run.launchers.slurm_example` rewrites that block, and a test keeps it current.

Paths of this checkout are shown as REPO, so the example reads the same on every machine.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from run.launchers.config import LauncherConfig
from run.launchers.slurm import ROOT, executor

EXAMPLE = LauncherConfig(kind="slurm", gpus_per_cell=2, partition="gpu", time_min=240, cpus_per_task=8, mem_gb=128,
                         setup=["source .venv/bin/activate"])
"""launcher=slurm launcher.gpus_per_cell=2 launcher.partition=gpu launcher.time_min=240 launcher.cpus_per_task=8
launcher.mem_gb=128 launcher.setup=["source .venv/bin/activate"]"""
DOC = ROOT / "docs" / "multi_gpu.md"
START, END = "<!-- slurm-example:start -->", "<!-- slurm-example:end -->"
REPO = "REPO"


def render(cfg: LauncherConfig = EXAMPLE, study: str = "minimax_gap") -> str:
    """The sbatch script of a job of `study` (what submitit submits), with this checkout's path shown as REPO."""
    ex = executor(cfg, ROOT / "runs" / study / "slurm", job_name=study)
    text = ex._make_submission_file_text(ex._submitit_command_str, "UID")
    return text.replace(sys.executable, "python").replace(str(ROOT), REPO)


def doc_block(cfg: LauncherConfig = EXAMPLE) -> str:
    return f"{START}\n```bash\n{render(cfg).rstrip()}\n```\n{END}"


def update_doc(path: Path = DOC) -> bool:
    """Rewrite the example block of `path`; returns whether it changed."""
    text = path.read_text()
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: doc_block(), text, flags=re.S)
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    print(f"{DOC}: {'updated' if update_doc() else 'already current'}")
