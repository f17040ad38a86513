"""The Slurm tests' gate: a responding one-node cluster (.ci/slurm_up.sh starts one), else a skip with the reason;
under CI (env CI set) a missing cluster fails instead, so the Slurm tests can never silently not run there."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

START = "bash .ci/slurm_up.sh (as root: installs Debian's slurm-wlm + munge and starts a one-node cluster)"


def slurm_problem() -> str | None:
    """Why this machine cannot run the Slurm tests, or None when sinfo answers with an idle/mixed node."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "Slurm is not installed (no sbatch / sinfo on PATH)"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s (slurmctld not running?)"
    states = proc.stdout.split()
    if proc.returncode != 0 or not any(s.startswith(("idle", "mixed", "allocated")) for s in states):
        return f"no Slurm node takes jobs (sinfo: {proc.stdout.strip() or proc.stderr.strip()})"
    return None


def require_slurm() -> None:
    problem = slurm_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {problem}; .ci/run starts the cluster with {START}")
    pytest.skip(f"{problem}; start one with {START}")
