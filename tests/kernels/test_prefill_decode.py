"""Serving path: a chunked prefill of the first T1 tokens, then fused_recurrent decoding of the rest from the
returned state, must equal one chunked pass over all T tokens (outputs and final state)."""
from __future__ import annotations

import pytest
import torch

from tests.kernels.harness import OPS, assert_close, fresh_seed, leaves, make_inputs

BOUNDS = {torch.float64: 1e-10, torch.float32: 2e-5}


def sliced(x: dict, a: int, b: int) -> dict:
    return {n: (t[:, a:b] if n != "h0" and t is not None else t) for n, t in x.items()}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("T1", [1, 16, 27])
@pytest.mark.parametrize("op_name", list(OPS))
def test_prefill_then_decode_equals_one_pass(op_name: str, T1: int, dtype: torch.dtype) -> None:
    op, seed = OPS[op_name], fresh_seed()
    B, T, H, K, V = 2, 33, 2, 8, 6
    x = leaves(make_inputs(op, B, T, H, K, V, seed), dtype)
    o_full, S_full = op.chunk(*op.args(x), initial_state=x["h0"], output_final_state=True, chunk_size=8)

    prefill = sliced(x, 0, T1)
    o_pre, S = op.chunk(*op.args(prefill), initial_state=x["h0"], output_final_state=True, chunk_size=8)
    decoded = []
    for t in range(T1, T, 2):  # decode two tokens per call, the last call may get one
        o_t, S = op.recurrent(*op.args(sliced(x, t, min(t + 2, T))), initial_state=S, output_final_state=True)
        decoded.append(o_t)
    o_steps = torch.cat([o_pre, *decoded], 1)

    assert_close("o", o_steps, o_full, BOUNDS[dtype], seed)
    assert_close("final_state", S, S_full, BOUNDS[dtype], seed)
