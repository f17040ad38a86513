"""benchmarks/kernel_dev/kernel_registers.py: the offline sm_90 compile reads registers, spills and shared memory
back."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.benchmark_script import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    return load_benchmark("kernel_dev/kernel_registers")


def test_every_benchmarked_kernel_is_listed_with_its_launch_config() -> None:
    names = [row[0] for row in _tool().kernels_to_check()]
    assert len(names) == len(set(names)) == 21
    assert {"intra forward (KDA)", "intra backward, fast pass (KDA)", "intra backward, exact pass (KDA)",
            "walk forward BV=16", "chunk gradients"} <= set(names)


def test_resources_of_one_kernel_compiled_for_sm90() -> None:
    # the offline compile needs Triton's compiler, not the interpreter tests/conftest.py switches on without a GPU
    # (the kernels are built as interpreted functions at import): so in a fresh process without it
    code = textwrap.dedent("""
        from tests.benchmark_script import load_benchmark
        tool = load_benchmark("kernel_dev/kernel_registers")
        name, fn, sig, constexprs, warps, stages = next(r for r in tool.kernels_to_check()
                                                        if r[0] == "walk forward BV=16")
        print(*tool.resources(fn, sig, constexprs, warps, stages))
    """)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    regs, spill, shared = (int(x) for x in proc.stdout.split()[-3:])
    assert 32 <= regs <= 255 and spill >= 0 and shared > 0
