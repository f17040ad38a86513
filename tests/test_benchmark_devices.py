"""benchmarks/train_throughput.py's devices axis: --devices 1,2 runs each recipe on 1 and 2 devices in one call
(here 2 gloo processes on the CPU at a tiny size) and reports the 2-device tokens/s, over every rank, against 1."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.benchmark_script import BENCHMARKS, load_benchmark

SCRIPT = BENCHMARKS / "train_throughput.py"


def test_one_call_times_one_and_two_devices() -> None:
    tiny = ["trainer.accelerator=cpu", "trainer.log_every=1", "model.n_layers=4", "data.seq_len=32",
            "data.batch_size=2"]
    run = subprocess.run([sys.executable, str(SCRIPT), "--recipes", "kda_3to1", "--size", "tiny", "--steps", "5",
                          "--devices", "1,2", *tiny], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("| kda_3to1 |")]
    assert len(rows) == 2 and "failed" not in run.stdout
    assert rows[0].split("|")[3].strip() == "1" and rows[0].split("|")[6].strip() == "1.00x"
    assert rows[1].split("|")[3].strip() == "2 (ddp)" and rows[1].split("|")[6].strip().endswith("x")


@pytest.mark.parametrize("bad", ["0", "1,two", ""])
def test_a_malformed_devices_list_exits_2_naming_the_format(bad: str) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--devices", bad], capture_output=True, text=True)
    assert run.returncode == 2 and "e.g. 1,2" in run.stderr


def test_one_device_runs_without_a_strategy() -> None:
    overrides = load_benchmark("train_throughput").device_overrides
    assert overrides(1, "fsdp") == ["trainer.devices=1"]
    assert overrides(2, "fsdp") == ["trainer.devices=2", "trainer.strategy=fsdp"]


def test_the_equality_script_compares_the_curves_on_cpu_processes() -> None:
    # benchmarks/multi_gpu_equality.py is the 2-GPU check at size=small; here its whole path on 2 gloo processes
    run = subprocess.run([sys.executable, str(BENCHMARKS / "multi_gpu_equality.py"), "--size", "tiny", "--steps", "4",
                          "--strategies", "ddp", "--rtol", "1e-5", "trainer.accelerator=cpu", "model.n_layers=4",
                          "data.seq_len=32", "data.batch_size=2"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "ddp x2 vs 1 device accumulating 2: max relative difference" in run.stdout and "over 4 steps" in run.stdout


def test_curve_differences_are_relative_over_shared_steps() -> None:
    compare = load_benchmark("multi_gpu_equality").compare
    c = compare({0: 2.0, 1: 1.01, 2: 5.0}, {0: 2.0, 1: 1.0})
    assert c["steps"] == 2 and abs(c["max"] - 0.01) < 1e-12 and c["at"] == 1
