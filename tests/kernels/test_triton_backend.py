"""The Triton backend's small-shape cases against the float64 reference: every op, forward and all gradients, fp32
and bf16, packed sequences, l2norm, strong decays, prefill + decode, and the errors raised before any launch.

Runs natively on a CUDA GPU, or on CPU under the Triton interpreter (tests/conftest.py switches it on before
triton.language is first imported).
"""
from __future__ import annotations

import pytest
import torch

import kernels
from kernels import LaunchConfig
from tests.kernels.harness import OPS, assert_close, fresh_seed, leaves, make_inputs, triton_case_device
from tests.kernels.triton_checks import check_op

DEVICE = triton_case_device(__file__)


@pytest.fixture(autouse=True)
def triton_backend():
    before = kernels.get_backend()
    kernels.set_backend("triton")
    yield
    kernels.set_backend(before)


@pytest.mark.parametrize("op_name", list(OPS))
def test_chunk_fp32_matches_reference(op_name: str) -> None:
    check_op(op_name, torch.float32, 45, 2, 8, 6, B=2, chunk_size=16, device=DEVICE)


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda", "simple_gla"])
def test_chunk_bf16_matches_reference(op_name: str) -> None:
    check_op(op_name, torch.bfloat16, 40, 2, 32, 16, chunk_size=16, device=DEVICE)


# Packed documents (cu_seqlens) reach the kernels chunk-aligned (kernels/utils/varlen_chunk_aligned.py), each walked
# from its own
# h0 to its own final state; held to the naive float64 recurrence run per document (o, states, every gradient).
# At C = 16: one chunk with a tail, three chunks with a tail, a single token, exactly one chunk, a tail again.
PACKED = [5, 37, 1, 16, 10]


@pytest.mark.parametrize("op_name", list(OPS))
def test_packed_sequences(op_name: str) -> None:
    check_op(op_name, torch.float32, PACKED, 2, 8, 6, chunk_size=16, device=DEVICE)


def test_packed_sequences_chunk_32_two_value_blocks_no_initial_state() -> None:
    # V = 40: two V-blocks of the chunk-state kernels (the backward's per-block decay gradients); h0 = None: zeros
    check_op("gated_delta_rule", torch.float32, [33, 1, 70, 9], 1, 16, 40, chunk_size=32, device=DEVICE,
             state=False)


def test_packed_sequences_bf16_l2norm() -> None:
    # the models' configuration: bf16 inputs, q and k L2-normalised in the packed row before the chunk-aligned one
    check_op("gated_delta_rule", torch.bfloat16, PACKED, 2, 16, 16, chunk_size=16, device=DEVICE, l2=True)


# The output after the walk as its own chunk-parallel launch (kernels/common/chunk_output.py), which the walk takes
# when its programs fit one per SM (B = 1 on a GPU; never on the interpreter's single "SM" unless forced): every op
# (with and without W), fp32 and the 16-bit products (bf16, L2-normalised), one row per sequence and packed.
OUTPUT_AFTER_WALK = LaunchConfig(split_output=True)


@pytest.mark.parametrize("op_name", list(OPS))
def test_output_after_the_walk_fp32(op_name: str) -> None:
    check_op(op_name, torch.float32, 45, 2, 8, 40, B=2, chunk_size=16, device=DEVICE, launch=OUTPUT_AFTER_WALK)


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda"])
def test_output_after_the_walk_bf16_l2norm_packed(op_name: str) -> None:
    check_op(op_name, torch.bfloat16, PACKED, 2, 16, 16, chunk_size=16, device=DEVICE, l2=True,
             launch=OUTPUT_AFTER_WALK)


def test_output_after_the_walk_bf16_without_w() -> None:
    check_op("simple_gla", torch.bfloat16, 40, 2, 32, 16, chunk_size=16, device=DEVICE, launch=OUTPUT_AFTER_WALK)


def test_output_after_the_walk_packed_fp32() -> None:
    check_op("kda", torch.float32, [33, 1, 70, 9], 1, 16, 40, chunk_size=32, device=DEVICE, state=False,
             launch=OUTPUT_AFTER_WALK)


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda"])
@pytest.mark.parametrize("T", [40, PACKED], ids=["rows", "packed"])
def test_forward_without_grad_bf16_l2norm(op_name: str, T) -> None:
    # no backward to come: q, k normalised into float16 (GDN: by the intra-chunk kernel as it reads them) and no
    # Ainv stored (kernels/delta_rule/chunk_triton.py)
    check_op(op_name, torch.bfloat16, T, 2, 32, 16, chunk_size=16, device=DEVICE, l2=True, grad=False)


def test_forward_without_grad_fp32() -> None:
    check_op("gated_delta_rule", torch.float32, 45, 2, 8, 40, B=2, chunk_size=16, device=DEVICE, grad=False)


def test_l2norm_in_kernel_and_head_dim_64() -> None:
    check_op("gated_delta_rule", torch.float32, 20, 1, 64, 64, chunk_size=16, device=DEVICE, l2=True)


def test_l2norm_in_kernel_bf16() -> None:
    # the models' configuration: bf16 q, k, v, g, beta read as they are, q and k through the fused L2-norm kernel
    check_op("kda", torch.bfloat16, 40, 2, 32, 16, chunk_size=16, device=DEVICE, l2=True)


@pytest.mark.parametrize("op_name", ["linear", "delta_rule"])
def test_unit_scale_bf16(op_name: str) -> None:
    # scale 1.0 (what the linear-attention models pass): q is read as it is, not copied to scale it
    check_op(op_name, torch.bfloat16, 40, 2, 32, 16, chunk_size=16, device=DEVICE, scale=1.0)


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "linear"])
def test_strided_output_gradient(op_name: str) -> None:
    # the chunk-state backward reads do in place: a transposed-heads do gives the same gradients as a contiguous one
    op, seed = OPS[op_name], fresh_seed()
    x = {n: None if t is None else t.to(DEVICE) for n, t in leaves(make_inputs(op, 1, 21, 2, 8, 6, seed),
                                                                     torch.float32).items()}
    o, _ = op.chunk(*op.args(x), initial_state=x["h0"], chunk_size=16)
    w = torch.randn(o.transpose(1, 2).shape, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    names = [n for n, t in x.items() if t is not None]
    strided = torch.autograd.grad((o.transpose(1, 2) * w).sum(), [x[n] for n in names], retain_graph=True)
    contiguous = torch.autograd.grad(o, [x[n] for n in names], w.transpose(1, 2).contiguous())
    for n, a, b in zip(names, strided, contiguous):
        assert_close(f"d{n}", a.cpu(), b.cpu(), 1e-6, seed)


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "linear"])
def test_gradient_through_only_the_output_or_only_the_state(op_name: str) -> None:
    # an unused output's gradient reaches the chunk-state backward as None: the parts must add up to the whole
    op, seed = OPS[op_name], fresh_seed()
    x = {n: None if t is None else t.to(DEVICE) for n, t in leaves(make_inputs(op, 1, 21, 2, 8, 6, seed),
                                                                     torch.float32).items()}
    o, S = op.chunk(*op.args(x), initial_state=x["h0"], output_final_state=True, chunk_size=16)
    gen = torch.Generator().manual_seed(seed)
    w, z = (torch.randn(t.shape, generator=gen).to(DEVICE) for t in (o, S))
    names = [n for n, t in x.items() if t is not None]
    inputs = [x[n] for n in names]
    only_o = torch.autograd.grad((o * w).sum(), inputs, retain_graph=True)
    only_S = torch.autograd.grad((S * z).sum(), inputs, retain_graph=True)
    both = torch.autograd.grad((o * w).sum() + (S * z).sum(), inputs)
    for n, a, b, ab in zip(names, only_o, only_S, both):
        assert_close(f"d{n}", (a + b).cpu(), ab.cpu(), 1e-6, seed)


def test_strong_decays_stay_finite_and_exact() -> None:
    # dg sums many terms that cancel when decays are strong: seen up to ~1e-4, so a looser gate bound
    check_op("kda", torch.float32, 48, 1, 16, 16, chunk_size=16, device=DEVICE, decay_scale=30.0,
             bounds=(2e-5, 1e-4, 5e-4))


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda", "simple_gla"])
def test_recurrent_with_and_without_grad(op_name: str) -> None:
    # with grad: routed to the chunked kernels; without: the fused recurrent kernel, with packing and l2norm
    check_op(op_name, torch.float32, 13, 2, 8, 6, B=2, path="recurrent", device=DEVICE)
    op, seed = OPS[op_name], fresh_seed()
    x = {n: None if t is None else t.to(DEVICE) for n, t in leaves(make_inputs(op, 1, 21, 2, 8, 6, seed),
                                                                     torch.float32).items()}
    cu = torch.tensor([0, 4, 5, 21], device=DEVICE)
    h0 = torch.randn(3, 2, 8, 6, device=DEVICE)
    kw = {"use_qk_l2norm_in_kernel": True} if op.has_beta else {}
    with torch.no_grad():
        o, S = op.recurrent(*op.args(x), initial_state=h0, output_final_state=True, cu_seqlens=cu, **kw)
        kernels.set_backend("torch")
        o_ref, S_ref = op.recurrent(*op.args(x), initial_state=h0, output_final_state=True, cu_seqlens=cu, **kw)
    assert_close("o", o.cpu(), o_ref.cpu(), 1e-5, seed)
    assert_close("final_state", S.cpu(), S_ref.cpu(), 1e-5, seed)


@pytest.mark.parametrize("op_name", ["kda", "linear"])
def test_prefill_then_decode_equals_one_pass(op_name: str) -> None:
    op, seed = OPS[op_name], fresh_seed()
    x = {n: None if t is None else t.detach().to(DEVICE, torch.float32)
         for n, t in make_inputs(op, 2, 30, 2, 16, 16, seed).items()}
    o_full, S_full = op.chunk(*op.args(x), initial_state=x["h0"], output_final_state=True)
    part = {n: None if t is None or n == "h0" else t[:, :17] for n, t in x.items()}
    o_pre, S = op.chunk(*op.args(part), initial_state=x["h0"], output_final_state=True)
    steps = [o_pre]
    for t in range(17, 30, 3):
        step = {n: None if v is None or n == "h0" else v[:, t:t + 3] for n, v in x.items()}
        o_t, S = op.recurrent(*op.args(step), initial_state=S, output_final_state=True)
        steps.append(o_t)
    assert_close("o", torch.cat(steps, 1).cpu(), o_full.cpu(), 1e-5, seed)
    assert_close("final_state", S.cpu(), S_full.cpu(), 1e-5, seed)


def test_cpu_tensors_without_interpreter_raise_before_launch(monkeypatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    q = torch.randn(1, 4, 1, 8)
    with pytest.raises(ValueError, match=r"chunk_kda: the 'triton' backend needs CUDA tensors"):
        kernels.chunk_kda(q, q, q, -torch.rand(1, 4, 1, 8), torch.rand(1, 4, 1))
    with pytest.raises(ValueError, match=r"fused_recurrent_simple_gla: the 'triton' backend needs CUDA tensors"):
        kernels.fused_recurrent_simple_gla(q, q, q)


def test_bad_arguments_raise_before_launch() -> None:
    q = torch.randn(1, 6, 2, 8, device=DEVICE)
    beta = torch.rand(1, 6, 2, device=DEVICE)
    with pytest.raises(ValueError, match=r"chunk_gated_delta_rule: g must have shape"):
        kernels.chunk_gated_delta_rule(q, q, q, -torch.rand(1, 6, 2, 8, device=DEVICE), beta)
    with pytest.raises(ValueError, match=r"cu_seqlens must end at T=6"):
        kernels.chunk_kda(q, q, q, -torch.rand(1, 6, 2, 8, device=DEVICE), beta,
                          cu_seqlens=torch.tensor([0, 2, 5], device=DEVICE))


# The backward that recomputes the intra-chunk tensors instead of keeping them (LaunchConfig.recompute): held to the
# reference like the default, and bitwise equal to it (the same kernels on the same inputs).
RECOMPUTE = LaunchConfig(recompute=True)


@pytest.mark.parametrize("op_name", ["delta_rule", "gated_delta_rule", "kda"])
def test_recomputing_backward_matches_reference(op_name: str) -> None:
    check_op(op_name, torch.float32, PACKED, 2, 8, 6, chunk_size=16, device=DEVICE, launch=RECOMPUTE)


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda"])
def test_recomputing_backward_gives_the_default_gradients_bitwise(op_name: str) -> None:
    gen = torch.Generator().manual_seed(fresh_seed())
    T, H, K, V = 45, 2, 16, 16
    q, k, v = (torch.randn(1, T, H, d, generator=gen).to(DEVICE, torch.bfloat16) for d in (K, K, V))
    g = -torch.rand(1, T, H, *([K] if op_name == "kda" else []), generator=gen)  # per channel, or per head
    beta = torch.rand(1, T, H, generator=gen)
    cu = torch.tensor([0, 7, 30, 45], device=DEVICE)
    fn = kernels.chunk_kda if op_name == "kda" else kernels.chunk_gated_delta_rule
    grads = []
    for launch in (None, RECOMPUTE):
        leaves_ = [t.clone().to(DEVICE).requires_grad_() for t in (q, k, v, g, beta)]
        o, _ = fn(*leaves_, cu_seqlens=cu, use_qk_l2norm_in_kernel=True, chunk_size=16, launch=launch)
        grads.append(torch.autograd.grad(o, leaves_, torch.ones_like(o)))
    for name, a, b in zip(("q", "k", "v", "g", "beta"), *grads):
        assert torch.equal(a, b), name
