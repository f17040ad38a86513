"""benchmarks/fused_kernels.py on the CPU: both tables (each op, eager vs fused; the bare step with each fused-kernel
switch and attention.packed=varlen off, alone and together) and its dated record, under the Triton interpreter;
without it, a one-line error and exit 2."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.benchmark_script import BENCHMARKS

SCRIPT = BENCHMARKS / "fused_kernels.py"


def test_tiny_cpu_run_prints_both_tables_and_writes_its_record(tmp_path) -> None:
    pytest.importorskip("triton")
    cmd = [sys.executable, str(SCRIPT), "--size", "tiny", "--steps", "1", "--recipes", "gdn_3to1",
           "--record", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "TRITON_INTERPRET": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    op_lines = [line for line in run.stdout.splitlines()
                if line.startswith(("| plain |", "| gated sigmoid |", "| short conv |", "| short conv packed |",
                                    "| rope |", "| kda decay |", "| swiglu mlp |"))]
    assert len(op_lines) == 7 and all(line.rstrip(" |").endswith("x") for line in op_lines), run.stdout
    step = [line for line in run.stdout.splitlines() if line.startswith("| gdn_3to1 |")]
    assert len(step) == 1 and "8 x 128" in step[0] and step[0].count("k |") == 8, run.stdout
    (record,) = tmp_path.glob("*_fused-kernels_cpu.md")
    assert "| gdn_3to1 |" in record.read_text()


def test_cpu_without_the_interpreter_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, str(SCRIPT), "--parts", "op"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 2 and "TRITON_INTERPRET=1" in run.stderr
