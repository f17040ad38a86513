"""linear_cross_entropy (row chunks, no full logits) against F.cross_entropy(hidden @ W.T) in float64: the loss and
both gradients, ignored rows and answers-only masks, row counts that are not a multiple of the chunk."""
from __future__ import annotations

import math

import pytest
import torch

from kernels import linear_cross_entropy, naive_linear_cross_entropy
from tests.kernels.harness import error_ratio, fresh_seed, seed_note


def _inputs(N: int, D: int, V: int, seed: int, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, D, generator=gen, dtype=torch.float64)
    weight = torch.randn(V, D, generator=gen, dtype=torch.float64) / math.sqrt(D) * 3  # peaked softmaxes too
    labels = torch.randint(0, V, (N,), generator=gen)
    return hidden.to(dtype), weight.to(dtype), labels


def _loss_and_grads(fn, hidden, weight, labels, **kw):
    h, w = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    loss = fn(h, w, labels, **kw)
    loss.backward()
    return loss.detach(), h.grad, w.grad


def _answers_only(N: int, T: int) -> torch.Tensor:
    """-100 on prompts, labels on answers: a few answer spans per row of T, as the synthetic answers-only data."""
    keep = torch.zeros(N, dtype=torch.bool)
    for row in range(0, N, T):
        keep[row + T // 2: row + T // 2 + 3] = True
        keep[row + T - 2: row + T] = True
    return keep


@pytest.mark.parametrize("rows", [1, 7, 16, 64, None])
@pytest.mark.parametrize("mask", ["none", "scattered", "answers_only"])
def test_float64_matches_the_reference(rows, mask):
    seed = fresh_seed()
    N, D, V = 45, 12, 33  # 45 rows: not a multiple of 7 or 16; 64 and None: one chunk
    hidden, weight, labels = _inputs(N, D, V, seed)
    if mask == "scattered":
        labels[::4] = -100
    elif mask == "answers_only":
        labels = torch.where(_answers_only(N, 15), labels, -100)
    got = _loss_and_grads(linear_cross_entropy, hidden, weight, labels, rows=rows)
    ref = _loss_and_grads(naive_linear_cross_entropy, hidden, weight, labels)
    for name, g, r in zip(("loss", "d hidden", "d weight"), got, ref):
        assert g.dtype == torch.float64 and g.shape == r.shape, name
        ratio = error_ratio(g, r)
        assert ratio <= 1e-13, f"{name}: error ratio {ratio:.2e}; {seed_note(seed)}"
    if mask != "none":  # ignored rows get no gradient
        assert torch.all(got[1][labels == -100] == 0)


def test_scaled_loss_scales_the_gradients_and_a_different_ignore_index_works():
    hidden, weight, labels = _inputs(20, 8, 11, 3)
    labels[:5] = 7
    got = _loss_and_grads(lambda h, w, y: 2.5 * linear_cross_entropy(h, w, y, ignore_index=7, rows=6),
                          hidden, weight, labels)
    ref = _loss_and_grads(lambda h, w, y: 2.5 * naive_linear_cross_entropy(h, w, y, ignore_index=7),
                          hidden, weight, labels)
    for g, r in zip(got, ref):
        assert error_ratio(g, r) <= 1e-13


def test_every_row_ignored_gives_nan_like_the_reference():
    hidden, weight, labels = _inputs(9, 4, 5, 1)
    labels[:] = -100
    assert math.isnan(linear_cross_entropy(hidden, weight, labels).item())
    assert math.isnan(naive_linear_cross_entropy(hidden, weight, labels).item())


@pytest.mark.parametrize("autocast", [False, True])
def test_low_precision_is_as_close_to_float64_as_the_plain_head(autocast):
    """float32, and bf16 autocast (the matmuls in bf16 as nn.Linear's would be): no further from the float64
    reference than the plain head + F.cross_entropy under the same precision."""
    seed = fresh_seed()
    hidden, weight, labels = _inputs(70, 32, 97, seed)
    labels[::5] = -100
    ref = _loss_and_grads(naive_linear_cross_entropy, hidden, weight, labels)
    h32, w32 = hidden.float(), weight.float()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        got = _loss_and_grads(linear_cross_entropy, h32, w32, labels, rows=16)
        plain = _loss_and_grads(naive_linear_cross_entropy, h32, w32, labels)
    bound = 1e-2 if autocast else 1e-5
    for name, g, p, r in zip(("loss", "d hidden", "d weight"), got, plain, ref):
        assert g.dtype == p.dtype, name  # float32 loss and parameter gradients, as the plain path's
        ours, theirs = error_ratio(g, r), error_ratio(p, r)
        assert ours <= max(bound, 1.5 * theirs), f"{name}: {ours:.2e} vs plain {theirs:.2e}; {seed_note(seed)}"


def test_no_grad_gives_the_loss_only():
    hidden, weight, labels = _inputs(10, 4, 6, 2)
    with torch.no_grad():
        loss = linear_cross_entropy(hidden.requires_grad_(), weight, labels, rows=3)
    assert loss.grad_fn is None
    assert error_ratio(loss, naive_linear_cross_entropy(hidden.detach(), weight, labels)) <= 1e-13


def test_bad_shapes_and_dtypes_are_named():
    hidden, weight, labels = _inputs(6, 4, 5, 0)
    with pytest.raises(ValueError, match=r"hidden \(N, D\), weight \(V, D\), labels \(N,\)"):
        linear_cross_entropy(hidden[None], weight, labels)
    with pytest.raises(ValueError, match="must match"):
        linear_cross_entropy(hidden.float(), weight, labels)


@pytest.mark.gpu
def test_cuda_bf16_autocast_is_as_close_to_float64_as_the_plain_head():
    seed = fresh_seed()
    hidden, weight, labels = _inputs(3000, 256, 5003, seed)
    labels[::7] = -100
    ref = _loss_and_grads(naive_linear_cross_entropy, hidden.cuda(), weight.cuda(), labels.cuda())
    h32, w32, y = hidden.float().cuda(), weight.float().cuda(), labels.cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got = _loss_and_grads(linear_cross_entropy, h32, w32, y, rows=512)
        plain = _loss_and_grads(naive_linear_cross_entropy, h32, w32, y)
    for name, g, p, r in zip(("loss", "d hidden", "d weight"), got, plain, ref):
        ours, theirs = error_ratio(g, r), error_ratio(p, r)
        assert ours <= max(1e-3, 1.5 * theirs), f"{name}: {ours:.2e} vs plain {theirs:.2e}; {seed_note(seed)}"
