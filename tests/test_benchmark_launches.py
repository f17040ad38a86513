"""benchmarks/launches.py: the launch counter counts what launches (not views, allocations or the Triton
interpreter's own argument copies), and the script's table and record on a tiny full-attention run."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch

from tests.benchmark_script import BENCHMARKS

SCRIPT = BENCHMARKS / "launches.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_launches", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counter_counts_operators_and_triton_grids_only() -> None:
    pytest.importorskip("triton")
    from kernels.utils.triton_support import interpreting

    if not interpreting():
        pytest.skip("needs TRITON_INTERPRET=1 (tests/conftest.py sets it)")
    from kernels.rms_norm.triton import rms_norm_triton

    x, w = torch.randn(4, 8), torch.ones(8)
    with _module().LaunchCounter() as counter:
        y = (x * 2 + 1).view(8, 4).t()  # mul, add; view and t launch nothing
        torch.empty(3)
        rms_norm_triton(y.contiguous(), w, 1e-6)  # one clone for contiguous, one Triton grid
    assert counter.torch_ops == {"mul": 1, "add": 1, "clone": 1}, counter.torch_ops
    assert counter.triton == {"_rms_norm_fwd": 1} and counter.total() == 4


def test_tiny_run_prints_its_table_and_writes_its_record(tmp_path) -> None:
    pytest.importorskip("triton")
    run = subprocess.run([sys.executable, str(SCRIPT), "--recipes", "full_attention", "--size", "tiny",
                          "--record", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    (row,) = [line for line in run.stdout.splitlines() if line.startswith("| full_attention |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    eager, norms, convs, rope, gates, mlp, fused = map(int, cells[2:9])
    assert norms < eager and rope < eager and mlp < eager  # attention: norms, rope and MLPs, no convs or decays
    assert convs == gates == eager
    assert fused < min(norms, rope, mlp)  # together they save more than any alone
    (record,) = tmp_path.glob("*_launches_cpu.md")
    assert "| full_attention |" in record.read_text()
