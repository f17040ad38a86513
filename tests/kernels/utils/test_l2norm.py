"""use_qk_l2norm_in_kernel: the same as normalising q and k over K beforehand (FLA's eps), gradients included."""
from __future__ import annotations

import pytest
import torch

from tests.kernels.harness import OPS, assert_close, fresh_seed, grads, leaves, make_inputs


def normalised(x: torch.Tensor) -> torch.Tensor:
    return x / (x.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt()


@pytest.mark.parametrize("path", ["chunk", "recurrent"])
@pytest.mark.parametrize("op_name", ["delta_rule", "gated_delta_rule", "kda"])
def test_qk_l2norm_in_kernel(op_name: str, path: str) -> None:
    op, seed = OPS[op_name], fresh_seed()
    base = make_inputs(op, 2, 19, 2, 8, 6, seed, normalise_k=False)
    base["k"] = base["k"] * 3  # far from unit norm, so a missing normalisation cannot pass
    x, ref_x = leaves(base, torch.float64), leaves(base, torch.float64)
    kw = {"chunk_size": 8} if path == "chunk" else {}
    fn = op.chunk if path == "chunk" else op.recurrent

    o, S = fn(*op.args(x), initial_state=x["h0"], output_final_state=True, use_qk_l2norm_in_kernel=True, **kw)
    normed = dict(ref_x, q=normalised(ref_x["q"]), k=normalised(ref_x["k"]))
    o_ref, S_ref = op.reference(normed, initial_state=ref_x["h0"])
    assert_close("o", o, o_ref, 1e-10, seed)
    assert_close("final_state", S, S_ref, 1e-10, seed)

    cot = (torch.randn_like(o_ref), torch.randn_like(S_ref))
    got, want = grads((o, S), cot, x), grads((o_ref, S_ref), cot, ref_x)
    for name in ("q", "k"):
        assert_close(f"d{name}", got[name], want[name], 1e-10, seed)
