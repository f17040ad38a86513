"""The L2 norm of q's and k's rows inside the intra-chunk kernels: GDN's forward without a backward reads q and k as
they come and normalises each (C, K) chunk itself, instead of a separate `utils/l2norm_triton.py` launch and its round
trip through memory. Same factor, scale / sqrt(sum_d x_d^2 + eps), and the same float16 rounding of the product
that `l2norm_triton(out_dtype=float16)` stores.
"""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def row_norms(base, s_t, s_d, mt, rc, scale, eps, K: tl.constexpr, BK: tl.constexpr):
    """scale / sqrt(sum_d x_d^2 + eps) of each row rc (masked by mt) of one chunk of x (C, K), BK columns a step."""
    ss = tl.zeros([rc.shape[0]], dtype=tl.float32)
    for i_k in range(tl.cdiv(K, BK)):
        rk = i_k * BK + tl.arange(0, BK)
        x = tl.load(base + rc[:, None] * s_t + rk[None, :] * s_d, mask=mt[:, None] & (rk < K)[None, :],
                    other=0.0).to(tl.float32)
        ss += tl.sum(x * x, 1)
    return scale / tl.sqrt_rn(ss + eps)


@triton.jit
def load_rows(base, s_t, s_d, rc, rk, m, r, NORM: tl.constexpr):
    """One (C, BK) tile of q or k; with NORM its rows times r (`row_norms`), in float16."""
    x = tl.load(base + rc[:, None] * s_t + rk[None, :] * s_d, mask=m, other=0.0)
    if NORM:
        x = (x.to(tl.float32) * r[:, None]).to(tl.float16)
    return x
