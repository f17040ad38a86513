"""Shared test harness: the op table, fresh random inputs, the naive float64 reference, and the error ratio.

Every test draws FRESH inputs (a new seed each run, printed in every failure message); set KERNELS_TEST_SEED to
replay a failure. Errors are measured as RMSE / RMS of the reference, so one bound works across shapes and scales.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import kernels
from kernels import naive_recurrent_gated_delta_rule, naive_recurrent_simple_gla
from kernels.utils.triton_support import interpreting


def triton_case_device(case_file: str) -> str:
    """The device a Triton test module runs on: "cuda" natively, "cpu" under TRITON_INTERPRET=1 (set before
    triton.language is imported: tests/conftest.py does it). Skips without triton; anything else is an error."""
    import pytest

    pytest.importorskip("triton")
    if not torch.cuda.is_available() and not interpreting():
        raise RuntimeError(f"{case_file} needs a CUDA GPU or TRITON_INTERPRET=1 set before Python starts")
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_pad_unpad_gradients(layout, x: torch.Tensor) -> None:
    """A packing layout's pad (tokens -> padded rows) and unpad (back) pass gradients through as the identity on the
    tokens: gradcheck both ways (x float64, requiring grad), and no gradient from the padding slots."""
    assert torch.autograd.gradcheck(lambda t: layout.pad(t), (x,))
    rows = layout.pad(x).detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda r: layout.unpad(r), (rows,))
    g = torch.randn_like(rows)
    (layout.pad(x) * g).sum().backward()
    assert torch.equal(x.grad, layout.unpad(g))  # padding slots send no gradient back, tokens get theirs


def fresh_seed() -> int:
    env = os.environ.get("KERNELS_TEST_SEED")
    return int(env) if env else secrets.randbits(32)


def seed_note(seed: int) -> str:
    return f"seed={seed} (replay: KERNELS_TEST_SEED={seed})"


@dataclass(frozen=True)
class Op:
    """One public op: its chunked and recurrent functions, its gate kind and whether it takes beta."""

    name: str
    chunk: Callable
    recurrent: Callable
    gate: str | None  # None, "head" (B, T, H) or "channel" (B, T, H, K)
    has_beta: bool

    def args(self, x: dict) -> tuple:
        """Positional arguments in FLA order: q, k, v, [g], [beta]."""
        gated = self.gate is not None or self.name == "simple_gla"
        return (x["q"], x["k"], x["v"]) + ((x["g"],) if gated else ()) + ((x["beta"],) if self.has_beta else ())

    def reference(self, x: dict, scale: float | None = None, initial_state: torch.Tensor | None = None):
        """The naive float64 recurrence on x (no packing, no normalisation): (o, final state)."""
        q, k, v, g = x["q"], x["k"], x["v"], x.get("g")
        if self.has_beta:
            return naive_recurrent_gated_delta_rule(q, k, v, g, x["beta"], scale, initial_state, True)
        return naive_recurrent_simple_gla(q, k, v, g, scale, initial_state, True)


OPS = {
    op.name: op
    for op in (
        Op("delta_rule", kernels.chunk_delta_rule, kernels.fused_recurrent_delta_rule, None, True),
        Op("gated_delta_rule", kernels.chunk_gated_delta_rule, kernels.fused_recurrent_gated_delta_rule, "head", True),
        Op("kda", kernels.chunk_kda, kernels.fused_recurrent_kda, "channel", True),
        Op("simple_gla", kernels.chunk_simple_gla, kernels.fused_recurrent_simple_gla, "head", False),
        Op("linear", kernels.chunk_simple_gla, kernels.fused_recurrent_simple_gla, None, False),  # g=None
    )
}


def make_inputs(op: Op, B: int, T: int, H: int, K: int, V: int, seed: int, *, decay_scale: float = 1.0,
                normalise_k: bool = True, state: bool = True) -> dict:
    """Float64 inputs with realistic ranges: unit keys, beta in (0, 1), g = logsigmoid(randn) <= 0 (times
    decay_scale, to make decays strong). `g` is None for ops without a gate, `h0` the initial state or None."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    k = randn(B, T, H, K)
    x = {"q": randn(B, T, H, K), "k": F.normalize(k, dim=-1) if normalise_k else k, "v": randn(B, T, H, V)}
    x["beta"] = torch.sigmoid(randn(B, T, H)) if op.has_beta else None
    x["g"] = None
    if op.gate == "head":
        x["g"] = F.logsigmoid(randn(B, T, H)) * decay_scale
    elif op.gate == "channel":
        x["g"] = F.logsigmoid(randn(B, T, H, K)) * decay_scale
    x["h0"] = randn(B, H, K, V) * 0.5 if state else None
    return x


def leaves(x: dict, dtype: torch.dtype) -> dict:
    """Independent copies of x in dtype that require grad (None stays None)."""
    return {n: None if t is None else t.detach().to(dtype).requires_grad_() for n, t in x.items()}


def error_ratio(got: torch.Tensor, ref: torch.Tensor) -> float:
    """RMSE(got, ref) / RMS(ref), in float64."""
    got, ref = got.detach().double(), ref.detach().double()
    return ((got - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt().clamp_min(1e-300)).item()


def assert_close(name: str, got: torch.Tensor, ref: torch.Tensor, bound: float, seed: int) -> None:
    assert got.shape == ref.shape, \
        f"{name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}; {seed_note(seed)}"
    assert torch.isfinite(got).all(), f"{name}: non-finite values; {seed_note(seed)}"
    ratio = error_ratio(got, ref)
    assert ratio <= bound, f"{name}: error ratio {ratio:.3e} > {bound:.0e}; {seed_note(seed)}"


def grads(outputs: tuple[torch.Tensor, torch.Tensor], cotangents: tuple[torch.Tensor, torch.Tensor],
          x: dict) -> dict:
    """Gradients of sum(o * do) + sum(S * dS) with respect to every tensor in x."""
    loss = sum((out.double() * cot).sum() for out, cot in zip(outputs, cotangents))
    names = [n for n, t in x.items() if t is not None]
    return dict(zip(names, torch.autograd.grad(loss, [x[n] for n in names])))
