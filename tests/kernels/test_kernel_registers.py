"""benchmarks/kernel_dev/kernel_registers.py: the offline sm_90 compile reads registers, spills and shared memory
back."""
from __future__ import annotations

from tests.benchmark_script import load_benchmark


def _tool():
    return load_benchmark("kernel_dev/kernel_registers")


def test_every_benchmarked_kernel_is_listed_with_its_launch_config() -> None:
    names = [row[0] for row in _tool().kernels_to_check()]
    assert len(names) == len(set(names)) == 21
    assert {"intra forward (KDA)", "intra backward, fast pass (KDA)", "intra backward, exact pass (KDA)",
            "walk forward BV=16", "chunk gradients"} <= set(names)


def test_resources_of_one_kernel_compiled_for_sm90() -> None:
    tool = _tool()
    name, fn, sig, constexprs, warps, stages = next(r for r in tool.kernels_to_check() if r[0] == "walk forward BV=16")
    regs, spill, shared = tool.resources(fn, sig, constexprs, warps, stages)
    assert 32 <= regs <= 255 and spill >= 0 and shared > 0
