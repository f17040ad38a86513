"""The power-of-two scale that brings float32 operands into float16's range for 16-bit tensor-core products.

The chunk-state walk (`common/chunk_state.py`) multiplies in float16 and stores its per-chunk tensors (the entering
state S_n and u_n forward; dS_{n+1} and do_n backward) in float16 for the chunk-parallel gradient products
(`common/chunk_grads.py`). float16 keeps tf32's 10-bit mantissa but not float32's range (6e-5 to 65504), so each walk
multiplies those operands by s = 2^-floor(log2 amax), amax the largest magnitude among its inputs (forward: U0 and
h0; backward: do and dS_out; the walks are linear in them), and scales the products back by 1 / s. Both are exact
(powers of two), and every kernel that reads a stored tensor recomputes s from the same amax.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def half_scale(AMAX, HALF: tl.constexpr):
    """(s, 1 / s): the power of two that brings AMAX[0] (>= 0) into [1, 2); (1, 1) when there is no such scale
    (0 or not finite) or without HALF."""
    if HALF:
        amax = tl.load(AMAX).to(tl.float32)
        ok = (amax > 0) & (amax < float("inf"))
        e = tl.minimum(tl.maximum(tl.floor(tl.log2(tl.where(ok, amax, 1.0))), -100.0), 100.0)
        return tl.exp2(-e), tl.exp2(e)
    else:
        return 1.0, 1.0


def amax(*xs: torch.Tensor) -> torch.Tensor:
    """max |x| over all xs as a 0-d float32 tensor on their device, without a host sync (exact: one of the values)."""
    out = None
    for x in xs:
        m = torch.linalg.vector_norm(x, float("inf")).float()
        out = m if out is None else torch.maximum(out, m)
    return out
