"""The chunk-parallel tail of the chunk-state backward (`kernels/triton_chunk_grads.py`) against its torch reference.

Inputs (S_in, dS_next, u, du, do_c) are drawn fresh in float64 and rounded once to float32; the reference is
`chunk_grads_torch` (the four batched matmuls) in float64 on those rounded values, so the bounds measure the kernel's
float32 arithmetic. "ieee" is exact fp32 (error ratios ~1e-7 under the interpreter). "tf32" cuts the operands to 10
mantissa bits on a GPU: rounded, a ratio of ~4e-4; truncated (the tensor cores may just drop the low bits), up to
~1e-3, hence the 4e-3 bound. The interpreter computes every tl.dot in fp32 whatever the precision (numpy matmul),
so there the tf32 cases see fp32-level errors and check only the launch and the indexing at that precision.
Run by test_triton_interpret.py: natively on a CUDA GPU, or on CPU in a fresh process with TRITON_INTERPRET=1.
"""
from __future__ import annotations

import pytest
import torch

from tests.kernels.harness import assert_close, error_ratio, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device("tests/kernels/chunk_grads_cases.py")
from kernels.triton_chunk_grads import chunk_grads, chunk_grads_torch  # noqa: E402  (after the interpreter check)

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


def test_chunk_grads_rejects_bad_arguments() -> None:
    S = torch.zeros(1, 1, 2, 8, 6, device=_DEVICE)
    x = torch.zeros(1, 1, 2, 16, 6, device=_DEVICE)
    with pytest.raises(ValueError, match="chunk size must be a power of two"):
        chunk_grads(S, S, x[..., :12, :], x[..., :12, :], x[..., :12, :], True, "ieee")
    with pytest.raises(ValueError, match="dS_next must have shape"):
        chunk_grads(S, S[..., :4], x, x, x, True, "ieee")
    with pytest.raises(ValueError, match="do_c must have shape"):
        chunk_grads(S, S, x, x, x[:, :, :1], False, "ieee")
