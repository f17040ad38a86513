"""Every path of every op against the naive float64 reference: forward o and final state, and every gradient.

float64 runs hold the algorithm to ~1e-8 (anything structurally wrong shows up as O(1)); float32 runs with
realistic decays check that the float32 state and log-space decays keep the error at rounding level.
"""
from __future__ import annotations

import pytest
import torch

from tests.kernels.harness import OPS, assert_close, fresh_seed, grads, leaves, make_inputs

BOUNDS = {torch.float64: (1e-8, 1e-8), torch.float32: (2e-5, 1e-4)}  # (forward, gradients); f32 seen ~2e-6

# (B, T, H, K, V, chunk_size): T not a multiple of the chunk, single partial chunk, K != V, chunk 1 (pure loop).
SHAPES = [(2, 45, 2, 8, 6, 16), (1, 33, 3, 16, 4, 8), (2, 20, 2, 8, 8, 64), (1, 9, 1, 4, 5, 1)]


def run_case(op_name: str, path: str, dtype: torch.dtype, B, T, H, K, V, chunk_size, *, state: bool = True,
             scale: float | None = None) -> None:
    op, seed = OPS[op_name], fresh_seed()
    base = make_inputs(op, B, T, H, K, V, seed, state=state)
    x, ref_x = leaves(base, dtype), leaves(base, torch.float64)

    fn = op.chunk if path == "chunk" else op.recurrent
    kw = {"chunk_size": chunk_size} if path == "chunk" else {}
    o, S = fn(*op.args(x), scale=scale, initial_state=x["h0"], output_final_state=True, **kw)
    o_ref, S_ref = op.reference(ref_x, scale=scale, initial_state=ref_x["h0"])
    assert o.dtype == dtype and S.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)

    fwd_bound, grad_bound = BOUNDS[dtype]
    assert_close("o", o, o_ref, fwd_bound, seed)
    assert_close("final_state", S, S_ref, fwd_bound, seed)

    gen = torch.Generator().manual_seed(seed + 1)
    cot = tuple(torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in (o_ref, S_ref))
    got, want = grads((o, S), cot, x), grads((o_ref, S_ref), cot, ref_x)
    assert set(got) == set(want)
    for name in want:
        assert_close(f"d{name}", got[name], want[name], grad_bound, seed)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}H{}K{}V{}C{}".format(*s))
@pytest.mark.parametrize("op_name", list(OPS))
def test_chunk_matches_reference(op_name: str, shape: tuple, dtype: torch.dtype) -> None:
    run_case(op_name, "chunk", dtype, *shape)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_recurrent_matches_reference(op_name: str, dtype: torch.dtype) -> None:
    run_case(op_name, "recurrent", dtype, 2, 13, 2, 8, 6, None)


@pytest.mark.parametrize("path", ["chunk", "recurrent"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_no_initial_state_and_custom_scale(op_name: str, path: str) -> None:
    run_case(op_name, path, torch.float64, 2, 21, 2, 8, 4, 8, state=False, scale=0.3)


@pytest.mark.parametrize("path", ["chunk", "recurrent"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_non_contiguous_inputs(op_name: str, path: str) -> None:
    """Mixers slice q, k, v out of one projection and transpose heads: strided views must work unchanged."""
    op, seed = OPS[op_name], fresh_seed()
    x = make_inputs(op, 2, 21, 2, 8, 8, seed)
    strided = {n: None if t is None else t.transpose(0, 1).contiguous().transpose(0, 1) for n, t in x.items()}
    qkv = torch.cat([x["q"], x["k"], x["v"]], -1)  # (B, T, H, 3K): q, k, v become strided slices
    strided.update(q=qkv[..., :8], k=qkv[..., 8:16], v=qkv[..., 16:])
    assert not strided["q"].is_contiguous() and not strided["h0"].is_contiguous()
    fn = op.chunk if path == "chunk" else op.recurrent
    kw = {"chunk_size": 8} if path == "chunk" else {}
    o, S = fn(*op.args(strided), initial_state=strided["h0"], output_final_state=True, **kw)
    o_ref, S_ref = op.reference(x, initial_state=x["h0"])
    assert_close("o", o, o_ref, 1e-10, seed)
    assert_close("final_state", S, S_ref, 1e-10, seed)
