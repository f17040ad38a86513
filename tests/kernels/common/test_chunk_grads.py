"""The chunk-parallel tail of the chunk-state backward (`kernels/common/chunk_grads.py`) against its torch reference.

Inputs (S_in, dS_next, u, du, do_c) are drawn fresh in float64 and rounded once to float32; the reference is
`chunk_grads_torch` (the four batched matmuls) in float64 on those rounded values, so the bounds measure the kernel's
float32 arithmetic. "ieee" is exact fp32 (error ratios ~1e-7 under the interpreter). "tf32" cuts the operands to 10
mantissa bits on a GPU: rounded, a ratio of ~4e-4; truncated (the tensor cores may just drop the low bits), up to
~1e-3, hence the 4e-3 bound. The interpreter computes every tl.dot in fp32 whatever the precision (numpy matmul),
so there the tf32 cases see fp32-level errors and check only the launch and the indexing at that precision.
With `half_amax` (what the float16 walks store: float16 tensors times power-of-two scales) the inputs are drawn at
magnitudes outside float16's range and rounded as the walks round them. Runs natively on a CUDA GPU, or on CPU under
the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch

from tests.kernels.harness import assert_close, error_ratio, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.common.chunk_grads import chunk_grads, chunk_grads_torch  # noqa: E402  (after the interpreter check)

_BOUNDS = {"ieee": 1e-6, "tf32": 4e-3}
_NAMES = ("dW", "dKd", "dQd", "dQK")


def _check(B: int, H: int, NC: int, C: int, K: int, V: int, has_w: bool, precision: str) -> dict[str, float]:
    """Kernel vs float64 reference for one shape; asserts every output within the precision's bound, dW None
    without W, and returns the ratios."""
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).float().double()  # round once to float32

    S_in, dS_next = randn(B, H, NC, K, V), randn(B, H, NC, K, V)
    u, du, do_c = randn(B, H, NC, C, V), randn(B, H, NC, C, V), randn(B, H, NC, C, V)
    ref = chunk_grads_torch(S_in, dS_next, u, du, do_c, has_w)
    dev = [t.to(_DEVICE, torch.float32) for t in (S_in, dS_next, u, du, do_c)]
    if not has_w:
        dev[3] = torch.full_like(dev[3], float("nan"))  # without W, du must not be read
    got = chunk_grads(*dev, has_w, precision)
    ratios = {}
    for name, got_t, ref_t in zip(_NAMES, got, ref):
        if ref_t is None:
            assert got_t is None, f"{name}: expected None without W; {seed_note(seed)}"
            continue
        assert got_t.dtype == torch.float32, f"{name}: dtype {got_t.dtype}; {seed_note(seed)}"
        assert_close(name, got_t.cpu(), ref_t, _BOUNDS[precision], seed)
        ratios[name] = error_ratio(got_t.cpu(), ref_t)
    print(precision, (B, H, NC, C, K, V), has_w, {n: f"{r:.1e}" for n, r in ratios.items()})
    return ratios


# K != V throughout. C = 16: BK = 64, so K = 80 is two K-blocks (the second masked), V = 24 one masked V step.
# C = 64: BK = 32, so K = 40 is two K-blocks, V = 70 three V steps (the last masked).
_SHAPES = {16: (2, 2, 3, 80, 24), 64: (1, 1, 2, 40, 70)}


@pytest.mark.parametrize("has_w", [True, False])
@pytest.mark.parametrize("C", [16, 64])
@pytest.mark.parametrize("precision", ["ieee", "tf32"])
def test_chunk_grads_match_reference(precision: str, C: int, has_w: bool) -> None:
    B, H, NC, K, V = _SHAPES[C]
    _check(B, H, NC, C, K, V, has_w, precision)


def test_chunk_grads_head_dims_below_one_tile_chunk_32() -> None:
    # K = 8, V = 6: both padded (masked) up to the 16-wide tl.dot minimum; C = 32, where BK = block(K) = 16
    _check(1, 2, 2, 32, 8, 6, True, "ieee")


@pytest.mark.parametrize("has_w", [True, False])
def test_chunk_grads_half_inputs_as_the_walks_store_them(has_w: bool) -> None:
    # float16 S_in, dS_next, do_c (and u with W) stored times the walks' power-of-two scales, float32 du (and U0
    # without W) scaled in the kernel: forward tensors near 1e5 (past float16's 65504), backward ones near 1e-7
    # (below its normal range); the reference takes the rounded values, so the bound measures the products
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    B, H, NC, C, K, V = 1, 2, 2, 16, 40, 24
    f_amax, b_amax = torch.tensor(3.1e5), torch.tensor(2.3e-7)
    s_f, s_b = 2.0 ** -torch.floor(torch.log2(f_amax)), 2.0 ** -torch.floor(torch.log2(b_amax))

    def stored(scale, s, *shape):  # float16 times s, as a walk stores it, and the value it stands for
        x16 = (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale * s).half()
        return x16, x16.double() / s

    S16, S_in = stored(1e5, s_f, B, H, NC, K, V)
    dS16, dS_next = stored(1e-7, s_b, B, H, NC, K, V)
    do16, do_c = stored(1e-7, s_b, B, H, NC, C, V)
    du = torch.randn(B, H, NC, C, V, generator=gen, dtype=torch.float64) * 1e-7
    if has_w:
        u_dev, u = stored(1e5, s_f, B, H, NC, C, V)
    else:
        u = torch.randn(B, H, NC, C, V, generator=gen, dtype=torch.float64) * 1e5
        u_dev = u.float()
    ref = chunk_grads_torch(S_in, dS_next, u, du.float().double(), do_c, has_w)
    dev = [t.to(_DEVICE) for t in (S16, dS16, u_dev, du.float(), do16)]
    got = chunk_grads(*dev, has_w, "tf32", (f_amax.to(_DEVICE), b_amax.to(_DEVICE)))
    for name, got_t, ref_t in zip(_NAMES, got, ref):
        if ref_t is not None:
            assert_close(name, got_t.cpu(), ref_t, _BOUNDS["tf32"], seed)


def test_chunk_grads_rejects_bad_arguments() -> None:
    S = torch.zeros(1, 1, 2, 8, 6, device=_DEVICE)
    x = torch.zeros(1, 1, 2, 16, 6, device=_DEVICE)
    with pytest.raises(ValueError, match="chunk size must be a power of two"):
        chunk_grads(S, S, x[..., :12, :], x[..., :12, :], x[..., :12, :], True, "ieee")
    with pytest.raises(ValueError, match="dS_next must have shape"):
        chunk_grads(S, S[..., :4], x, x, x, True, "ieee")
    with pytest.raises(ValueError, match="do_c must have shape"):
        chunk_grads(S, S, x, x, x[:, :, :1], False, "ieee")
    with pytest.raises(ValueError, match="with half_amax, S_in must be float16"):
        chunk_grads(S, S.half(), x, x, x.half(), True, "tf32", (S[0, 0, 0, 0, 0], S[0, 0, 0, 0, 0]))
