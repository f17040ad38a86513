"""benchmarks/kernels.py's command line: --shapes picks (B, T) pairs, and a malformed one is a one-line usage error;
and its host-issue timer."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.benchmark_script import BENCHMARKS, load_benchmark

SCRIPT = BENCHMARKS / "kernels.py"


def test_shapes_parse_as_batch_by_length() -> None:
    shape_arg = load_benchmark("kernels").shape_arg
    assert shape_arg("1x32768") == (1, 32768)
    assert shape_arg("8X2048") == (8, 2048)


@pytest.mark.parametrize("bad", ["4x", "4x40x6", "0x4096", "four"])
def test_malformed_shape_exits_2_naming_the_format(bad: str) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--shapes", bad], capture_output=True, text=True)
    assert run.returncode == 2
    assert "BxT" in run.stderr and repr(bad) in run.stderr


def test_host_ms_times_issuing_each_call() -> None:
    # a call that keeps the host busy 3 ms takes at least 3 ms to issue; the sync runs once before and once after
    import time
    syncs = []
    per_call = load_benchmark("kernels").host_ms(lambda: time.sleep(0.003), calls=4, sync=lambda: syncs.append(1))
    assert per_call >= 3.0 and len(syncs) == 2
