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


def test_bytes_per_token_are_what_grows_with_the_tokens_and_weights_stay_out() -> None:
    bench = load_benchmark("saved_activations")
    model, per = bench.measure_per_token("kda_only", DIMS, 1, 32)
    _, per_long = bench.measure_per_token("kda_only", DIMS, 1, 64)
    mlp = {p: n for p, n in per.by_path.items() if p.startswith("blocks.0.mlp")}
    assert mlp == pytest.approx({p: n for p, n in per_long.by_path.items() if p.startswith("blocks.0.mlp")})
    # SwiGLU keeps at least its hidden activation (96 wide, bf16 under autocast) for the down projection's backward
    assert sum(mlp.values()) >= 96 * 2
    assert per.per_step > 0  # autocast's bf16 copies of the weights: per step, not per token
    weight_shapes = {tuple(p.shape) for p in model.parameters()} | {tuple(p.shape)[::-1] for p in model.parameters()}
    assert not [t for t in per.tensors if t[2] in weight_shapes]


def test_cli_prints_each_layer_kind_and_writes_its_record(tmp_path) -> None:
    cmd = [sys.executable, str(BENCHMARKS / "saved_activations.py"), "--recipe", "kda_3to1", "--dims", "tiny",
           "--layers", "4", "--seq-len", "32", "--backend", "torch", "--record", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| linear (blocks.0) | **whole layer** |" in run.stdout
    assert "| attention (blocks.3) | **whole layer** |" in run.stdout
    record = next(tmp_path.glob("*_saved-activations_cpu.md"))
    assert "Saved activations per token, by module" in record.read_text()


def test_the_triton_backend_is_what_gets_measured_and_recompute_keeps_less() -> None:
    """--backend triton measures the Triton path (building the model sets the backend from its config, auto: torch on
    a CPU; the benchmark sets it after), and model.linear.recompute=true keeps less in the mixer than the default."""
    pytest.importorskip("triton")
    from kernels.utils.triton_support import interpreting

    if not interpreting():
        pytest.skip("needs TRITON_INTERPRET=1 (tests/conftest.py sets it)")
    bench = load_benchmark("saved_activations")
    mixer = {}
    before = kernels.backend.get_backend()
    try:
        for name, backend, overrides in [("torch", "torch", ()), ("triton", "triton", ()),
                                         ("recompute", "triton", ("model.linear.recompute=true",))]:
            _, per = bench.measure_per_token("kda_only", DIMS, 1, 32, overrides=overrides, backend=backend)
            mixer[name] = per.by_path["blocks.0.mixer"]
    finally:
        kernels.backend.set_backend(before)
    assert mixer["torch"] != mixer["triton"] and 0 < mixer["recompute"] < mixer["triton"]
