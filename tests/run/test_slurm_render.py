"""The Slurm launcher's script for a 2-GPU cell (srun, one task per GPU), and its rendering in docs/multi_gpu.md."""
from __future__ import annotations

from run.launchers.slurm_example import DOC, END, START, doc_block, render


def test_a_two_gpu_cell_runs_two_tasks_under_srun_on_one_node():
    script = render()
    for line in ("#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=2", "#SBATCH --gpus-per-node=2",
                 "#SBATCH --signal=USR1@90", "#SBATCH --requeue", "source .venv/bin/activate"):
        assert line in script.splitlines(), line
    assert script.splitlines()[-1].startswith("srun --unbuffered ")
    assert "REPO" in script and "/work/" not in script  # the checkout's path is shown as REPO


def test_the_docs_show_the_script_as_rendered_now():
    text = DOC.read_text()
    block = text[text.index(START) : text.index(END) + len(END)]
    assert block == doc_block(), "docs/multi_gpu.md is stale: run python -m run.launchers.slurm_example"
