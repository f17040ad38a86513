"""The Triton intra-chunk backward (`kernels/delta_rule/intra_wy_bwd.py`) against autograd through the PyTorch
`intra_chunk`.

Inputs are drawn fresh in float64 and rounded once to the test dtype; the reference differentiates `intra_chunk`
in float64 on those rounded values with random gradients for all six outputs (including the upper triangle of dqk
and the zero-padded tail, which the kernel must ignore), so the bounds measure the kernel's float32 arithmetic.
Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kernels.utils.chunking import to_chunks
from kernels.utils.decay import causal_decayed_scores
from kernels.delta_rule.chunk import intra_chunk
from tests.kernels.harness import assert_close, error_ratio, fresh_seed, seed_note, triton_case_device

_DEVICE = triton_case_device(__file__)
from kernels.delta_rule.intra_wy_bwd import intra_chunk_bwd  # noqa: E402  (after the interpreter check)

_GRADS = ("dq", "dk", "dv", "dg", "dbeta")


def _inputs(gate: str, B: int, T: int, H: int, K: int, V: int, seed: int, decay: str) -> dict:
    """Float64 inputs: scaled q, unit keys, beta in (0, 1); g per channel (D = K), per head (D = 1) or zero."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    D = K if gate == "channel" else 1
    if decay == "strong":
        g = -30.0 * torch.rand(B, T, H, D, generator=gen, dtype=torch.float64)
    elif decay == "edge":  # first half of the channels just inside the fast path's SAFE_SPAN at C = 64, rest beyond
        rate = torch.where(torch.arange(D) < D // 2, 1.8, 3.0).to(torch.float64)
        g = -rate * (0.9 + 0.1 * torch.rand(B, T, H, D, generator=gen, dtype=torch.float64))
    else:
        g = F.logsigmoid(randn(B, T, H, D))
    if gate == "none":
        g = torch.zeros_like(g)
    return {"q": randn(B, T, H, K) * K ** -0.5, "k": F.normalize(randn(B, T, H, K), dim=-1), "v": randn(B, T, H, V),
            "g": g, "beta": torch.sigmoid(randn(B, T, H))}


def _ainv(k: torch.Tensor, g: torch.Tensor, beta: torch.Tensor, C: int) -> torch.Tensor:
    """(I + A)^-1 per chunk, A = beta * (decayed k.k scores, strictly lower): (B, H, N, C, C)."""
    kc, G = to_chunks(k, C), to_chunks(g, C).cumsum(-2)
    kk = causal_decayed_scores(kc.unsqueeze(-3), kc, G).squeeze(-3)
    A = kk.tril(-1) * to_chunks(beta.unsqueeze(-1), C)
    return torch.linalg.inv(torch.eye(C, dtype=A.dtype) + A)


def _check(gate: str, dtype: torch.dtype, T: int, K: int, V: int, C: int, bound: float, *, B: int = 1, H: int = 2,
           decay: str = "normal", strided: bool = False, dg_bound: float | None = None,
           grads_in_input_dtypes: bool = False) -> dict[str, float]:
    """Kernel vs float64 autograd for one case; asserts every gradient within `bound` (dg within `dg_bound` when
    given) and in float32 (in `dtype` with grads_in_input_dtypes), and returns the ratios."""
    seed = fresh_seed()
    x = {n: t.to(dtype).double() for n, t in _inputs(gate, B, T, H, K, V, seed, decay).items()}  # round once
    ref_x = {n: t.clone().requires_grad_() for n, t in x.items()}
    outs = intra_chunk(*(ref_x[n] for n in ("q", "k", "v", "g", "beta")), C)
    gen = torch.Generator().manual_seed(seed + 1)
    cot = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in outs]  # dqk's upper triangle too
    ref = torch.autograd.grad(sum((o * c).sum() for o, c in zip(outs, cot)), [ref_x[n] for n in ref_x])
    U0, W = outs[0].detach(), outs[1].detach()
    Ainv = _ainv(x["k"], x["g"], x["beta"], C)

    dev = {n: t.to(_DEVICE, dtype) for n, t in x.items()}
    if strided:  # (B, H, T, .) storage seen as (B, T, H, .): the kernel must read through the strides
        dev = {n: t.transpose(1, 2).contiguous().transpose(1, 2) for n, t in dev.items()}
        assert not dev["q"].is_contiguous()
    saved = [t.to(_DEVICE, torch.float32) for t in (U0, W, Ainv, *cot)]
    got = intra_chunk_bwd(dev["q"], dev["k"], dev["v"], dev["g"], dev["beta"], C, *saved,
                          grads_in_input_dtypes=grads_in_input_dtypes)
    ratios = {}
    want_dtype = dtype if grads_in_input_dtypes else torch.float32
    for name, got_t, ref_t in zip(_GRADS, got, ref):
        assert got_t.dtype == want_dtype, f"{name}: dtype {got_t.dtype}; {seed_note(seed)}"
        assert_close(name, got_t.cpu(), ref_t, dg_bound if name == "dg" and dg_bound else bound, seed)
        ratios[name] = error_ratio(got_t.cpu(), ref_t)
    print(gate, dtype, T, K, V, C, decay, {n: f"{r:.1e}" for n, r in ratios.items()})
    return ratios


@pytest.mark.parametrize("gate", ["channel", "head", "none"])
@pytest.mark.parametrize("C", [16, 32])
def test_intra_bwd_fp32_matches_autograd(gate: str, C: int) -> None:
    # T = 45 is not a multiple of either chunk; K = 8, V = 6 are padded up to 16-wide tiles
    _check(gate, torch.float32, 45, 8, 6, C, 1e-5, B=2)


@pytest.mark.parametrize("gate", ["channel", "head"])
def test_intra_bwd_chunk_64_and_several_head_dim_blocks(gate: str) -> None:
    # K = 40 and V = 70 span several K / V blocks of the kernels' loops
    _check(gate, torch.float32, 100, 40, 70, 64, 1e-5, H=1)


@pytest.mark.parametrize("gate", ["channel", "head"])
def test_intra_bwd_bf16_inputs(gate: str) -> None:
    _check(gate, torch.bfloat16, 48, 32, 16, 16, 2e-2)  # T a multiple of C: no tail chunk


@pytest.mark.parametrize("gate", ["channel", "head"])
def test_intra_bwd_writes_grads_in_the_input_dtypes(gate: str) -> None:
    # what the autograd op asks for: the kernels store bf16 directly (dbeta of the channel path via float32 scratch)
    _check(gate, torch.bfloat16, 45, 32, 16, 16, 2e-2, grads_in_input_dtypes=True)


@pytest.mark.parametrize("C", [16, 32])
def test_intra_bwd_strong_decays_stay_finite_and_accurate(C: int) -> None:
    # g = -30 * rand: chunk decays reach e^{-900}; any exp(G_t) * exp(-G_j) split would overflow to inf. Cumulative
    # decays of hundreds are rounded to ~6e-5 absolute in float32, and dg sums terms that cancel: over 188 random
    # cases (interpreter) the worst ratios were dg 4.1e-5, dk 5.4e-6, dq 2.5e-6, so 2e-4 and 5e-5 leave room for the
    # tail while a wrong gradient (1e-2 and up) still fails.
    for gate in ("channel", "head"):
        _check(gate, torch.float32, 50, 16, 8, C, 5e-5, decay="strong", dg_bound=2e-4)


def test_intra_bwd_reads_strided_inputs() -> None:
    _check("channel", torch.float32, 20, 8, 6, 16, 1e-5, strided=True)
    _check("head", torch.float32, 20, 8, 6, 16, 1e-5, strided=True)


def test_intra_bwd_rejects_bad_arguments() -> None:
    x = {n: t.to(_DEVICE, torch.float32) for n, t in _inputs("channel", 1, 20, 1, 8, 6, 0, "normal").items()}
    args = (x["q"], x["k"], x["v"])
    chunked = [torch.zeros(1, 1, 2, 16, d, device=_DEVICE) for d in (6, 8, 16, 6, 8, 8)]
    saved = (chunked[0], chunked[1], chunked[2], chunked[3], chunked[4], chunked[5],
             torch.zeros(1, 1, 2, 8, device=_DEVICE), chunked[1], chunked[2])
    with pytest.raises(ValueError, match="chunk_size must be one of"):
        intra_chunk_bwd(*args, x["g"], x["beta"], 24, *saved)
    with pytest.raises(ValueError, match="g's last dim must be 1 or K=8"):
        intra_chunk_bwd(*args, x["g"][..., :3], x["beta"], 16, *saved)
    with pytest.raises(ValueError, match="dW must have shape"):
        intra_chunk_bwd(*args, x["g"], x["beta"], 16, *saved[:4], chunked[0], *saved[5:])


def test_intra_bwd_decays_at_the_fast_path_edge() -> None:
    # K = 64, two 32-wide blocks: |G_t - G_middle| reaches ~57 in the first (one-dot path, factors up to e^57) and
    # ~96 in the second (exact sub-block path), in the same chunks; bounds of the strong-decay test
    _check("channel", torch.float32, 64 + 9, 64, 8, 64, 5e-5, decay="edge", dg_bound=2e-4)
