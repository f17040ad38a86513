"""attention.packed: flash attention's varlen kernel on the packed row against the padded batch of documents (the
reference) on a GPU; where varlen cannot run (CPU, float32, unequal head dims) the padded form runs; a bad value is
named at build time."""
from __future__ import annotations

import pytest
import torch

from hybrid.attention.sdpa import _attend_documents, attend
from hybrid.config import ModelConfig
from hybrid.lm import HybridLM
from tests.kernels.harness import error_ratio


def _packed_inputs(device: str, dtype: torch.dtype, H: int, H_kv: int, E: int, lengths: list[int], seed: int):
    gen = torch.Generator().manual_seed(seed)
    T = sum(lengths)
    q, k, v = (torch.randn(1, h, T, E, generator=gen).to(device, dtype).requires_grad_() for h in (H, H_kv, H_kv))
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], device=device)
    return q, k, v, cu


def test_varlen_falls_back_to_the_padded_form_off_cuda() -> None:
    q, k, v, cu = _packed_inputs("cpu", torch.float32, 2, 2, 8, [3, 9, 1, 7], 0)
    assert torch.equal(attend(q, k, v, cu_seqlens=cu, packed="varlen"), _attend_documents(q, k, v, None, cu, None))


def test_a_bad_packed_value_is_named_at_build() -> None:
    cfg = ModelConfig(vocab_size=32, d_model=32, n_layers=1, n_heads=2, head_dim=16, ratio="0:1")
    cfg.attention.packed = "varlan"
    with pytest.raises(ValueError, match=r"attention.packed='varlan'; valid: padded, varlen"):
        HybridLM(cfg)


@pytest.mark.gpu
@pytest.mark.parametrize("H, H_kv, window, scale", [(4, 4, None, None), (4, 2, None, None), (4, 4, 5, None),
                                                    (4, 4, None, 0.3)], ids=["mha", "gqa", "window", "scale"])
def test_varlen_kernel_matches_the_padded_documents_on_cuda(H, H_kv, window, scale) -> None:
    from hybrid.attention.sdpa import _varlen_attn

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    if _varlen_attn() is None:
        pytest.skip(f"torch {torch.__version__} has no torch.nn.attention.varlen: attention.packed=varlen runs padded")
    lengths = [1, 17, 64, 3, 130, 40]  # shorter than, across and longer than a flash tile
    q, k, v, cu = _packed_inputs("cuda", torch.bfloat16, H, H_kv, 64, lengths, 1)
    dy = torch.randn_like(q)
    outs = []
    for packed in ("varlen", "padded"):
        o = attend(q, k, v, window=window, cu_seqlens=cu, scale=scale, packed=packed)
        outs.append((o.detach(), *torch.autograd.grad(o, [q, k, v], dy)))
    for name, got, ref in zip(("o", "dq", "dk", "dv"), *outs):
        assert error_ratio(got.float(), ref.float()) <= 2e-2, name
