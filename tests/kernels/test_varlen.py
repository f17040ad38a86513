"""Packed sequences (cu_seqlens): equal to running each sequence on its own, and nothing crosses a boundary."""
from __future__ import annotations

import pytest
import torch

from tests.kernels.harness import OPS, assert_close, fresh_seed, leaves, make_inputs, seed_note

LENGTHS = [5, 19, 1, 12]  # shorter than a chunk, several chunks with a tail, a single token
CHUNK = 8


def pack(parts: list[dict]) -> dict:
    return {n: None if parts[0][n] is None else torch.cat([p[n] for p in parts], 1) for n in parts[0] if n != "h0"}


def packed_inputs(op, seed: int, dtype: torch.dtype):
    H, K, V = 2, 8, 6
    parts = [leaves(make_inputs(op, 1, L, H, K, V, seed + i), dtype) for i, L in enumerate(LENGTHS)]
    h0 = torch.cat([p["h0"].detach() for p in parts]).requires_grad_()  # (N, H, K, V)
    x = {n: None if t is None else t.detach().clone().requires_grad_() for n, t in pack(parts).items()}
    cu = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()], dtype=torch.int32)
    return parts, x, h0, cu


@pytest.mark.parametrize("path", ["chunk", "recurrent"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_packed_equals_separate(op_name: str, path: str) -> None:
    op, seed = OPS[op_name], fresh_seed()
    parts, x, h0, cu = packed_inputs(op, seed, torch.float64)
    fn = op.chunk if path == "chunk" else op.recurrent
    kw = {"chunk_size": CHUNK} if path == "chunk" else {}

    o, S = fn(*op.args(x), initial_state=h0, output_final_state=True, cu_seqlens=cu, **kw)
    assert S.shape == (len(LENGTHS), 2, 8, 6), f"final_state shape {tuple(S.shape)}; {seed_note(seed)}"
    for i, p in enumerate(parts):
        o_i, S_i = fn(*op.args(p), initial_state=p["h0"], output_final_state=True, **kw)
        assert_close(f"o[seq {i}]", o[:, cu[i]:cu[i + 1]], o_i, 1e-12, seed)
        assert_close(f"final_state[seq {i}]", S[i], S_i[0], 1e-12, seed)


@pytest.mark.parametrize("path", ["chunk", "recurrent"])
@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda", "simple_gla"])
def test_no_gradient_crosses_a_boundary(op_name: str, path: str) -> None:
    op, seed = OPS[op_name], fresh_seed()
    _, x, h0, cu = packed_inputs(op, seed, torch.float32)
    fn = op.chunk if path == "chunk" else op.recurrent
    kw = {"chunk_size": CHUNK} if path == "chunk" else {}
    o, S = fn(*op.args(x), initial_state=h0, output_final_state=True, cu_seqlens=cu, **kw)

    a, b = int(cu[1]), int(cu[2])  # sequence 1
    loss = o[:, a:b].sum() + S[1].sum()
    names = [n for n, t in x.items() if t is not None]
    *per_token, dh0 = torch.autograd.grad(loss, [x[n] for n in names] + [h0])
    for name, grad in zip(names, per_token):
        outside = torch.cat([grad[:, :a], grad[:, b:]], 1)
        assert outside.abs().max() == 0, f"d{name} leaks across a boundary; {seed_note(seed)}"
        assert grad[:, a:b].abs().max() > 0, f"d{name} is zero inside the sequence; {seed_note(seed)}"
    others = torch.cat([dh0[:1], dh0[2:]])
    assert others.abs().max() == 0, f"d initial_state leaks to other sequences; {seed_note(seed)}"
    assert dh0[1].abs().max() > 0, f"d initial_state is zero for its own sequence; {seed_note(seed)}"
