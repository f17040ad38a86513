"""benchmarks/saved_activations.py: what a forward saves for the backward, charged per module, on the CPU."""
from __future__ import annotations

import subprocess
import sys

import pytest

import kernels.backend  # noqa: F401  (imported before benchmarks/ lands on sys.path, where its kernels.py and
import run.build  # noqa: F401     data.py would shadow the packages)
import run.load  # noqa: F401
from tests.benchmark_script import BENCHMARKS, load_benchmark

DIMS = {"n_layers": 2, "d_model": 32, "n_heads": 2, "head_dim": 16, "mlp_hidden": 96, "vocab": 256, "size": "tiny"}


def per_token(meter, tokens: int, prefix: str) -> float:
    return sum(n for path, n in meter.charged.items() if path.startswith(prefix)) / tokens


def test_saved_bytes_per_token_do_not_depend_on_length_and_leave_weights_out() -> None:
    bench = load_benchmark("saved_activations")
    model, short = bench.measure("kda_only", DIMS, 1, 64)
    _, long = bench.measure("kda_only", DIMS, 1, 128)
    assert per_token(short, 64, "blocks.0.mlp") == pytest.approx(per_token(long, 128, "blocks.0.mlp"), rel=0.01)
    # SwiGLU keeps at least its hidden activation (96 wide, bf16 under autocast) for the down projection's backward
    assert per_token(short, 64, "blocks.0.mlp") >= 96 * 2
    assert short.weight_copies > 0  # autocast's bf16 copies of the weights: counted apart, per step
    assert all(len(shape) != 2 or tuple(shape) not in {tuple(p.shape) for p in model.parameters()}
               for _, _, shape, _ in short.tensors)


def test_cli_prints_each_layer_kind_and_writes_its_record(tmp_path) -> None:
    cmd = [sys.executable, str(BENCHMARKS / "saved_activations.py"), "--recipe", "kda_3to1", "--dims", "tiny",
           "--layers", "4", "--seq-len", "32", "--backend", "torch", "--record", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| linear (blocks.0) | **whole layer** |" in run.stdout
    assert "| attention (blocks.3) | **whole layer** |" in run.stdout
    record = next(tmp_path.glob("*_saved-activations_cpu.md"))
    assert "Saved activations per token, by module" in record.read_text()
