"""Backend selection: auto resolves to triton on CUDA and torch elsewhere; bad names fail clearly."""
from __future__ import annotations

import pytest
import torch

import kernels
from kernels.backend import get_backend, resolve_backend, set_backend


@pytest.fixture(autouse=True)
def restore_backend():
    before = get_backend()
    yield
    set_backend(before)


def test_default_config_is_auto_and_resolves_by_device() -> None:
    assert kernels.KernelConfig().backend == "auto"
    set_backend(kernels.KernelConfig().backend)
    assert resolve_backend(torch.device("cpu")) == "torch"
    assert resolve_backend("cuda") == "triton"  # triton is installed in every environment we test in


def test_explicit_choice_overrides_the_device() -> None:
    set_backend("triton")
    assert resolve_backend("cpu") == "triton"
    set_backend("torch")
    assert resolve_backend("cuda") == "torch"


def test_torch_backend_runs() -> None:
    set_backend("torch")
    q = torch.randn(1, 5, 1, 4)
    o, _ = kernels.chunk_simple_gla(q, q, q)
    assert o.shape == (1, 5, 1, 4) and torch.isfinite(o).all()


def test_triton_without_the_package_fails_clearly(monkeypatch) -> None:
    monkeypatch.setattr(kernels.backend, "AVAILABLE", ("torch",))
    with pytest.raises(ValueError, match=r"'triton' is not available: the triton package is not installed"):
        set_backend("triton")
    assert get_backend() != "triton"


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"kernel backend 'cuda' is unknown; valid: auto, triton, torch"):
        set_backend("cuda")
