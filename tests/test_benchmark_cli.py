"""benchmarks/kernels.py's command line: --shapes picks (B, T) pairs, and a malformed one is a one-line usage error."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "kernels.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_kernels_cli", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shapes_parse_as_batch_by_length() -> None:
    assert _module().shape_arg("1x32768") == (1, 32768)
    assert _module().shape_arg("8X2048") == (8, 2048)


@pytest.mark.parametrize("bad", ["4x", "4x40x6", "0x4096", "four"])
def test_malformed_shape_exits_2_naming_the_format(bad: str) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--shapes", bad], capture_output=True, text=True)
    assert run.returncode == 2
    assert "BxT" in run.stderr and repr(bad) in run.stderr
