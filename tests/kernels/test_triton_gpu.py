"""The Triton backend on a CUDA GPU (`pytest -m gpu`): the benchmark shapes, a packed training batch and randomised
shapes, forward and every gradient against float64 references, with the issue's bf16 bounds.

At the benchmark shapes the float64 reference is the chunked PyTorch path run in float64 on the GPU (the CPU suite
holds it to the naive recurrence at 1e-8; the naive token loop would need one saved state per token for autograd).
Randomised shapes use the naive recurrence itself. A fresh seed each run; KERNELS_TEST_SEED replays one.
"""
from __future__ import annotations

import math
import random

import pytest
import torch

import kernels
from tests.kernels.harness import OPS, fresh_seed
from tests.kernels.triton_checks import check_op

pytestmark = pytest.mark.gpu  # deselected by default (pyproject); `pytest -m gpu` on the GPU machine

BENCH_SHAPES = [(8, 2048), (4, 4096), (2, 8192), (1, 16384), (1, 32768)]


@pytest.fixture(autouse=True)
def triton_backend():
    assert torch.cuda.is_available(), "the gpu suite needs a CUDA GPU"
    before = kernels.get_backend()
    kernels.set_backend("auto")
    assert kernels.resolve_backend("cuda") == "triton"
    yield
    kernels.set_backend(before)


@pytest.mark.parametrize("BT", BENCH_SHAPES, ids=lambda s: f"B{s[0]}T{s[1]}")
@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda"])
def test_benchmark_shapes_bf16(op_name: str, BT: tuple[int, int]) -> None:
    B, T = BT
    ratios = check_op(op_name, torch.bfloat16, T, 16, 128, 128, B=B, device="cuda", l2=True, reference="chunked64")
    print(op_name, BT, {n: f"{r:.1e}" for n, r in ratios.items()})


def packed_batch_lengths(seed: int, n: int = 219, total: int = 16384) -> list[int]:
    """n document lengths summing to total, as a packed training batch of many short documents: log-uniform in
    [8, 512], scaled to the total, one single-token document."""
    rng = random.Random(seed)
    x = [math.exp(rng.uniform(math.log(8), math.log(512))) for _ in range(n)]
    lengths = [1] + [max(1, round(v * (total - 1) / sum(x[1:]))) for v in x[1:]]
    lengths[lengths.index(max(lengths))] += total - sum(lengths)
    return lengths


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda"])
def test_packed_training_batch_bf16(op_name: str) -> None:
    # 219 documents in 16,384 tokens, chunk-aligned on the Triton path (kernels/utils/varlen_chunk_aligned.py), each
    # from its own
    # initial state; the reference runs each document on its own (chunked PyTorch path, float64)
    seed = fresh_seed()
    ratios = check_op(op_name, torch.bfloat16, packed_batch_lengths(seed), 16, 128, 128, device="cuda", l2=True,
                      reference="chunked64", seed=seed)
    print(op_name, {n: f"{r:.1e}" for n, r in ratios.items()})


@pytest.mark.parametrize("i", range(12))
def test_random_shapes(i: int) -> None:
    seed = fresh_seed() + i
    rng = random.Random(seed)
    op_name = rng.choice(["delta_rule", "gated_delta_rule", "kda", "simple_gla", "linear"])
    dtype = rng.choice([torch.bfloat16, torch.float16, torch.float32])
    K = rng.choice([64, 128, 256])
    V = rng.choice([32, 64, 128, 256])
    H = rng.randint(1, 3)
    lengths = [rng.randint(1, 200) for _ in range(rng.randint(1, 4))]
    packed = rng.random() < 0.5
    T = lengths if packed else lengths[0]
    B = 1 if packed else rng.randint(1, 2)
    chunk = rng.choice([16, 32, 64])
    path = rng.choice(["chunk", "chunk", "recurrent"])
    l2 = rng.random() < 0.5 and OPS[op_name].has_beta  # only the delta-rule ops take use_qk_l2norm_in_kernel
    print(op_name, dtype, dict(B=B, T=T, H=H, K=K, V=V, chunk=chunk, path=path, l2=l2))
    check_op(op_name, dtype, T, H, K, V, B=B, chunk_size=chunk, device="cuda", l2=l2, path=path, seed=seed)


@pytest.mark.parametrize("op_name", ["gated_delta_rule", "kda", "simple_gla"])
def test_decode_kernel_matches_chunked_prefill(op_name: str) -> None:
    from tests.kernels.harness import OPS, assert_close, make_inputs

    op, seed = OPS[op_name], fresh_seed()
    x = {n: None if t is None else t.to("cuda", torch.bfloat16) for n, t in make_inputs(op, 2, 300, 4, 128, 128,
                                                                                      seed).items()}
    h0 = x.pop("h0").float()
    with torch.no_grad():
        o_full, S_full = op.chunk(*op.args(x), initial_state=h0, output_final_state=True)
        part = {n: None if t is None else t[:, :257] for n, t in x.items()}
        o_pre, S = op.chunk(*op.args(part), initial_state=h0, output_final_state=True)
        steps = [o_pre]
        for t in range(257, 300):
            step = {n: None if v is None else v[:, t:t + 1] for n, v in x.items()}
            o_t, S = op.recurrent(*op.args(step), initial_state=S, output_final_state=True)
            steps.append(o_t)
    assert_close("o", torch.cat(steps, 1).float(), o_full.float(), 5e-3, seed)
    assert_close("final_state", S, S_full, 1e-3, seed)
