"""The fused intra-chunk forward kernel (`kernels/delta_rule/intra_wy_fwd.py`) against float64 references: the six chunk
tensors of `delta_rule/chunk.py: intra_chunk` run in float64, and Ainv against torch.linalg.inv of I + A built from
its definition. Per-head and per-channel decay, every chunk size, tails, padded head dims, strided and half
precision inputs, strong decays.

Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on).
"""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

import tests.kernels.delta_rule.intra_op as intra_op
from kernels.delta_rule.chunk import intra_chunk
from kernels.delta_rule.intra_wy_fwd import intra_chunk_fwd
from kernels.utils.launch import DEFAULT_LAUNCH, LaunchConfig
from tests.kernels.harness import assert_close, fresh_seed, triton_case_device

_DEVICE = triton_case_device(__file__)
_NAMES = ("U0", "W", "k_to_end", "decay_chunk", "q_decayed", "qk")
_BOUND = {torch.float32: 1e-5, torch.bfloat16: 5e-3, torch.float16: 5e-3}


def _inputs(B: int, T: int, H: int, K: int, V: int, per_channel: bool, seed: int, decay_scale: float | None = None):
    """Float64 q (scaled), unit k, v, g <= 0 ((B, T, H, K) or (B, T, H, 1)), beta in (0, 1). decay_scale given:
    g = -decay_scale * rand (strong decays), else logsigmoid(randn)."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    D = K if per_channel else 1
    g = F.logsigmoid(randn(B, T, H, D)) if decay_scale is None else \
        -decay_scale * torch.rand(B, T, H, D, generator=gen, dtype=torch.float64)
    return (randn(B, T, H, K) * K ** -0.5, F.normalize(randn(B, T, H, K), dim=-1), randn(B, T, H, V), g,
            torch.sigmoid(randn(B, T, H)))


def _ainv_reference(k: torch.Tensor, g: torch.Tensor, beta: torch.Tensor, C: int) -> torch.Tensor:
    """(I + A)^-1 per chunk from the definition A_tj = beta_t sum_c k_tc k_jc e^{G_tc - G_jc} (j < t), float64."""
    B, T, H, K = k.shape
    N = -(-T // C)
    pad = N * C - T

    def chunks(x):  # (B, T, H, D) -> (B, H, N, C, D)
        return F.pad(x, (0, 0, 0, 0, 0, pad)).reshape(B, N, C, H, -1).permute(0, 3, 1, 2, 4)

    kc, Gc, bc = chunks(k), chunks(g).cumsum(-2), chunks(beta.unsqueeze(-1))
    strict = torch.ones(C, C, dtype=torch.bool).tril(-1)[..., None]  # (C, C, 1)
    log_decay = (Gc[..., :, None, :] - Gc[..., None, :, :]).masked_fill(~strict, float("-inf"))  # (.., C, C, D)
    A = (kc[..., :, None, :] * kc[..., None, :, :] * log_decay.exp()).sum(-1) * bc
    return torch.linalg.inv(torch.eye(C, dtype=torch.float64) + A)


def _check(x: tuple[torch.Tensor, ...], C: int, dtype: torch.dtype, seed: int, strong: bool = False,
           views: Callable | None = None, split_wu: bool = False) -> tuple[torch.Tensor, ...]:
    """Run the kernel on x rounded to dtype (on the test device, through `views` if given: strided layouts of the
    same values; split_wu: U0 and W by their own launch) and hold its seven outputs to float64; returns them."""
    x = tuple(t.to(dtype).double() for t in x)  # round once; the references see the rounded values
    args = tuple(t.to(_DEVICE, dtype) for t in x)
    got = intra_chunk_fwd(*(views(*args) if views else args), C, launch=LaunchConfig(split_wu=split_wu))
    assert all(t.dtype == torch.float32 for t in got)
    ref = intra_chunk(*x, C)
    bound = _BOUND[dtype]
    for name, out, want in zip(_NAMES, got, ref):
        out = out.cpu()
        if strong and name == "decay_chunk":
            # whole-chunk decays of e^-hundreds underflow float32: hold them absolutely, not as a ratio; those that
            # do not (e^-58 at C = 32, g ~ -1.8) carry the float32 cumsum's rounding of G, ~1e-5 absolute at |G| ~ 60
            assert torch.isfinite(out).all() and torch.allclose(out.double(), want, rtol=1e-4, atol=1e-37), name
            continue
        if strong and name == "k_to_end":
            # k e^{G_C - G_t} with cumulative decays of hundreds: float32 rounds G to ~6e-5 absolute at |G| ~ 1000,
            # so each entry carries up to ~6e-5 relative error, and with most entries underflowed the RMS of the
            # reference is small: the ratio has a tail to ~1e-5 (seed 613550918: 1.12e-5; 24 other cases <= 2.9e-6)
            assert_close(name, out, want, 1e-4, seed)
            continue
        assert_close(name, out, want, bound, seed)
    assert_close("Ainv", got[6].cpu(), _ainv_reference(x[1], x[3], x[4], C), bound, seed)
    return got


@pytest.mark.parametrize("per_channel", [True, False], ids=["kda", "gdn"])
@pytest.mark.parametrize(("C", "T", "K", "V"), [(16, 45, 8, 6), (32, 40, 8, 6), (32, 77, 32, 16)])
def test_intra_fwd_fp32_matches_reference(per_channel: bool, C: int, T: int, K: int, V: int) -> None:
    seed = fresh_seed()
    _check(_inputs(2, T, 2, K, V, per_channel, seed), C, torch.float32, seed)


@pytest.mark.parametrize("per_channel", [True, False], ids=["kda", "gdn"])
def test_intra_fwd_chunk_64_with_several_head_dim_blocks(per_channel: bool) -> None:
    # K = 72 / V = 70: three 32-wide blocks each, the last mostly padding
    seed = fresh_seed()
    _check(_inputs(1, 70, 1, 72, 70, per_channel, seed), 64, torch.float32, seed)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("per_channel", [True, False], ids=["kda", "gdn"])
def test_intra_fwd_half_precision_inputs(per_channel: bool, dtype: torch.dtype) -> None:
    seed = fresh_seed()
    _check(_inputs(1, 40, 2, 32, 16, per_channel, seed), 32, dtype, seed)


@pytest.mark.parametrize("per_channel", [True, False], ids=["kda", "deltanet"])
def test_intra_fwd_weak_decays_exercise_the_block_solve(per_channel: bool) -> None:
    # with g = 0 (DeltaNet) or tiny decays the blocks of A far below the diagonal stay large, so every term of
    # (I - N)(I + N^2) D^-1 matters
    seed = fresh_seed()
    x = _inputs(1, 64, 2, 8, 8, per_channel, seed, decay_scale=0.05 if per_channel else 0.0)
    _check(x, 64, torch.float32, seed)


@pytest.mark.parametrize("C", [16, 64])
def test_intra_fwd_strong_decays_stay_finite_and_exact(C: int) -> None:
    # g = -30 rand: e^{G_t} alone underflows and e^{-G_j} overflows; only differences through sub-block
    # boundaries keep the scores finite and exact
    seed = fresh_seed()
    _check(_inputs(1, C + 5, 2, 16, 8, True, seed, decay_scale=30.0), C, torch.float32, seed, strong=True)


@pytest.mark.parametrize("per_channel", [True, False], ids=["kda", "gdn"])
@pytest.mark.parametrize(("C", "T", "K", "V"), [(16, 45, 8, 6), (64, 70, 72, 70)])
def test_intra_fwd_split_wu_matches_reference_and_the_fused_pass(per_channel: bool, C: int, T: int, K: int,
                                                                  V: int) -> None:
    # U0 and W by their own launch from the stored Ainv (`delta_rule/intra_wy_u0_w.py`): the same products on the same
    # operands as the fused kernel's pass 2, over several head-dim blocks and a padded tail chunk
    seed = fresh_seed()
    x = _inputs(2, T, 2, K, V, per_channel, seed)
    split = _check(x, C, torch.float32, seed, split_wu=True)
    fused = _check(x, C, torch.float32, seed, split_wu=False)
    for name, a, b in zip(("U0", "W"), split[:2], fused[:2]):
        assert_close(name, a.cpu().double(), b.cpu().double(), 1e-6, seed)


@pytest.mark.parametrize("split_wu", [False, True], ids=["fused", "split-wu"])
def test_intra_fwd_reads_strided_inputs(split_wu: bool) -> None:
    def views(q, k, v, g, beta):
        B, T, H, K = q.shape
        out = (q.transpose(1, 2).contiguous().transpose(1, 2),  # (B, H, T, K) memory
               torch.cat((k, torch.zeros_like(k)), -1)[..., :K],  # a slice of a wider tensor
               v.transpose(0, 1).contiguous().transpose(0, 1),  # (T, B, H, V) memory
               g.transpose(2, 3).contiguous().transpose(2, 3),  # (B, T, K, H) memory: channel stride H
               beta.transpose(1, 2).contiguous().transpose(1, 2))  # (B, H, T) memory
        assert not any(x.is_contiguous() for x in out)
        return out

    seed = fresh_seed()
    _check(_inputs(2, 37, 3, 16, 8, True, seed), 16, torch.float32, seed, views=views, split_wu=split_wu)


def test_intra_fwd_bad_arguments_raise() -> None:
    q = torch.randn(1, 20, 1, 8, device=_DEVICE)
    beta = torch.rand(1, 20, 1, device=_DEVICE)
    with pytest.raises(ValueError, match=r"intra_chunk_fwd: chunk_size must be one of \(16, 32, 64\), got 8"):
        intra_chunk_fwd(q, q, q, -torch.rand(1, 20, 1, 1, device=_DEVICE), beta, 8)
    with pytest.raises(ValueError, match=r"g's last dim must be 1 \(per head\) or K=8 \(per channel\), got 4"):
        intra_chunk_fwd(q, q, q, -torch.rand(1, 20, 1, 4, device=_DEVICE), beta, 16)


@pytest.mark.parametrize("backward", ["kernel", "torch"])
@pytest.mark.parametrize(("per_channel", "T"), [(True, 45), (False, 45), (True, 5)], ids=["kda", "gdn", "kda-short"])
def test_intra_chunk_op_gradients_match_float64_autograd(per_channel: bool, T: int, backward: str) -> None:
    # the intra-chunk part as an autograd Function, with the Triton backward or its PyTorch fallback
    bwd = intra_op.intra_chunk_bwd_torch if backward == "torch" else intra_op.intra_chunk_bwd
    seed = fresh_seed()
    x = tuple(t.float().double() for t in _inputs(1, T, 2, 8, 6, per_channel, seed))
    leaves = [t.to(_DEVICE, torch.float32).requires_grad_() for t in x]
    outs = intra_op.intra_chunk_triton(*leaves, 16, backward=bwd)
    gen = torch.Generator().manual_seed(seed + 1)
    cot = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in outs]
    got = torch.autograd.grad(sum((o.double() * c.to(_DEVICE)).sum() for o, c in zip(outs, cot)), leaves)
    ref_leaves = [t.clone().requires_grad_() for t in x]
    ref_outs = intra_chunk(*(F.pad(t, (0, 0) * (t.dim() - 2) + (0, 16 - T)) if T < 16 else t for t in ref_leaves), 16)
    want = torch.autograd.grad(sum((o * c).sum() for o, c in zip(ref_outs, cot)), ref_leaves)
    for name, d, w, leaf in zip(("dq", "dk", "dv", "dg", "dbeta"), got, want, leaves):
        assert d.dtype == leaf.dtype and d.shape == leaf.shape, name
        assert_close(name, d.cpu(), w, 1e-4, seed)


def test_intra_chunk_op_returns_gradients_in_the_input_dtypes() -> None:
    x = [t.to(_DEVICE, torch.bfloat16).requires_grad_() for t in _inputs(1, 20, 1, 16, 16, True, fresh_seed())]
    outs = intra_op.intra_chunk_triton(*x, 16)
    assert all(o.dtype == torch.float32 for o in outs)
    grads = torch.autograd.grad(sum(o.sum() for o in outs), x)
    assert all(d.dtype == torch.bfloat16 and torch.isfinite(d).all() for d in grads)


@pytest.mark.parametrize("C", [32, 64])
def test_intra_fwd_decays_at_the_fast_path_edge(C: int) -> None:
    # K = 64 in two 32-wide blocks: channels 0-31 decay by up to 1.8 per step, so |G_t - G_middle| reaches ~57 at
    # C = 64, just inside SAFE_SPAN (60): the one-dot path with factors up to e^57; channels 32-63 decay by ~3 per
    # step, beyond it: the exact sub-block path, in the same chunk
    seed = fresh_seed()
    q, k, v, _, beta = _inputs(1, C + 7, 2, 64, 8, True, seed)
    gen = torch.Generator().manual_seed(seed)
    g = torch.cat([-1.8 * (0.95 + 0.05 * torch.rand(1, C + 7, 2, 32, generator=gen, dtype=torch.float64)),
                   -3.0 * (0.9 + 0.1 * torch.rand(1, C + 7, 2, 32, generator=gen, dtype=torch.float64))], dim=-1)
    _check((q, k, v, g, beta), C, torch.float32, seed, strong=True)


@pytest.mark.parametrize("per_channel", [True, False], ids=["kda", "gdn"])
def test_intra_fwd_compact_stores_float16_roundings(per_channel: bool) -> None:
    # compact: W, k_to_end, q_decayed, qk in float16 (what the chunk walk reads), the same values up to that
    # rounding (2^-11 relative, ~3e-4 as an RMS ratio); the other outputs unchanged
    seed = fresh_seed()
    q, k, v, g, beta = (t.to(_DEVICE, torch.float32) for t in _inputs(1, 45, 2, 32, 16, per_channel, seed))
    full = intra_chunk_fwd(q, k, v, g, beta, 16)
    compact = intra_chunk_fwd(q, k, v, g, beta, 16, compact=True)
    for name, a, b in zip(("U0", "W", "k_to_end", "decay_chunk", "q_decayed", "qk", "Ainv"), compact, full):
        if name in ("W", "k_to_end", "q_decayed", "qk"):
            assert a.dtype == torch.float16, name
            assert_close(name, a.float().cpu(), b.double().cpu(), 5e-4, seed)
        else:
            assert a.dtype == torch.float32 and torch.equal(a, b), name


@pytest.mark.parametrize("split_wu", [False, True], ids=["fused", "split"])
def test_intra_fwd_leaves_max_abs_u0(split_wu: bool) -> None:
    # u0_amax: the kernels' atomic max of |U0| (the walk's float16 scale) is exactly torch's, whatever the tensor
    # held before (intra_chunk_fwd zeroes it itself)
    seed = fresh_seed()
    q, k, v, g, beta = (t.to(_DEVICE, torch.float32) for t in _inputs(2, 45, 2, 32, 40, False, seed))
    v = v * 1e3
    amax = torch.zeros(1, device=_DEVICE)
    U0 = intra_chunk_fwd(q, k, v, g, beta, 16, compact=True, launch=LaunchConfig(split_wu=split_wu), u0_amax=amax)[0]
    assert amax.item() == U0.abs().max().item() > 0
    big = torch.full((1,), 2.0 ** 100, device=_DEVICE)
    intra_chunk_fwd(q, k, v, g, beta, 16, compact=True, launch=LaunchConfig(split_wu=split_wu), u0_amax=big)
    assert big.item() == amax.item()


@pytest.mark.parametrize("split_wu", [False, True], ids=["fused", "split"])
@pytest.mark.parametrize("C", [16, 64])
def test_intra_fwd_norm_in_kernel_equals_normalising_first(C: int, split_wu: bool) -> None:
    # norm_q_scale: q, k as they come (bf16, unnormalised, strided), L2-normalised by the kernel as it reads them,
    # give what the kernel gives on `l2norm_triton`'s float16 outputs (same factor, same rounding; only the order
    # of the sum of squares differs), with and without a padded tail, U0 and W in the kernel or by their own launch
    # (from the row factors the kernel stored)
    from kernels.utils.l2norm_triton import l2norm_triton
    seed = fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    T, H, K, V = C + 29, 2, 32, 16
    q, k = (3 * torch.randn(1, T, K, H, generator=gen).transpose(-1, -2).to(_DEVICE, torch.bfloat16) for _ in "qk")
    v = torch.randn(1, T, H, V, generator=gen).to(_DEVICE, torch.bfloat16)
    g = F.logsigmoid(torch.randn(1, T, H, 1, generator=gen)).to(_DEVICE)
    beta = torch.rand(1, T, H, generator=gen).to(_DEVICE, torch.bfloat16)
    scale = K ** -0.5
    first = intra_chunk_fwd(l2norm_triton(q, scale, out_dtype=torch.float16), l2norm_triton(k, out_dtype=torch.float16),
                            v, g, beta, C, "tf32", compact=True, store_ainv=False)
    fused = intra_chunk_fwd(q, k, v, g, beta, C, "tf32", compact=True, store_ainv=False, norm_q_scale=scale,
                            launch=LaunchConfig(split_wu=split_wu))
    assert fused[6] is None
    for name, a, b in zip(_NAMES, fused, first):
        assert a.dtype == b.dtype, name
        assert_close(name, a.float().cpu(), b.double().cpu(), 1e-3 if a.dtype == torch.float16 else 1e-5, seed)


def test_intra_fwd_norm_in_kernel_bad_arguments_raise() -> None:
    q = torch.randn(1, 20, 1, 8, device=_DEVICE)
    beta = torch.rand(1, 20, 1, device=_DEVICE)
    g_head, g_channel = -torch.rand(1, 20, 1, 1, device=_DEVICE), -torch.rand(1, 20, 1, 8, device=_DEVICE)
    want = r"norm_q_scale \(the L2 norm in the kernel\) needs a per-head g, compact=True and store_ainv=False"
    for g, compact, store_ainv in ((g_channel, True, False), (g_head, False, False), (g_head, True, True)):
        with pytest.raises(ValueError, match=want):
            intra_chunk_fwd(q, q, q, g, beta, 16, compact=compact, store_ainv=store_ainv, norm_q_scale=0.5)
    from kernels.delta_rule.chunk_triton import chunk_gated_delta_rule_fwd
    with pytest.raises(ValueError, match=r"norm_q_scale \(q, k normalised in the kernel\) has no backward"):
        chunk_gated_delta_rule_fwd(q=q.requires_grad_(), k=q, v=q, g=g_head, beta=beta, h0=None, chunk_size=16,
                                   precision="tf32", T=20, out_dtype=torch.float32, seqs=None, compact=True,
                                   needs_grad=True, norm_q_scale=0.5, launch=DEFAULT_LAUNCH)
