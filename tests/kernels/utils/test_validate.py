"""Bad arguments raise ValueError with one line naming the problem, before any compute."""
from __future__ import annotations

import pytest
import torch

import kernels

B, T, H, K, V = 1, 10, 2, 4, 3


def good() -> dict:
    return {
        "q": torch.randn(B, T, H, K), "k": torch.randn(B, T, H, K), "v": torch.randn(B, T, H, V),
        "g": -torch.rand(B, T, H), "beta": torch.rand(B, T, H),
    }


def call_gdn(**changes):
    x = good()
    x.update(changes)
    return kernels.chunk_gated_delta_rule(x.pop("q"), x.pop("k"), x.pop("v"), x.pop("g"), x.pop("beta"), **x)


CASES = {
    "q not 4-D": ({"q": torch.randn(T, H, K)}, r"q must be 4-D \(B, T, H, K\), got shape \(10, 2, 4\)"),
    "q not float": ({"q": torch.ones(B, T, H, K, dtype=torch.long)}, r"q must be a floating-point tensor"),
    "k shape": ({"k": torch.randn(B, T, H, K + 1)}, r"k must have shape \(B, T, H, K\) = \(1, 10, 2, 4\), got"),
    "v shape": ({"v": torch.randn(B, T + 1, H, V)}, r"v must have shape \(B, T, H, V\) = \(1, 10, 2, V\)"),
    "k dtype": ({"k": torch.randn(B, T, H, K, dtype=torch.float64)}, r"k has dtype torch.float64 but q has"),
    "v dtype": ({"v": torch.randn(B, T, H, V, dtype=torch.bfloat16)}, r"q, k, v must share one dtype"),
    "g per channel": ({"g": -torch.rand(B, T, H, K)}, r"g must have shape \(B, T, H\) = \(1, 10, 2\), got"),
    "g missing": ({"g": None}, r"g \(log decay\) is required"),
    "beta shape": ({"beta": torch.rand(B, T, H, 1)}, r"beta must have shape \(B, T, H\)"),
    "beta missing": ({"beta": None}, r"beta \(B, T, H\) is required"),
    "empty T": ({"q": torch.randn(B, 0, H, K)}, r"T=0 tokens"),
    "scale": ({"scale": "0.5"}, r"scale must be a real number"),
    "state shape": ({"initial_state": torch.zeros(B, H, K, V + 1)}, r"initial_state must have shape \(N, H, K, V\)"),
    "state N": ({"initial_state": torch.zeros(3, H, K, V), "cu_seqlens": torch.tensor([0, 4, 10])},
                r"initial_state must have shape .*number of sequences.* = \(2, 2, 4, 3\), got \(3, 2, 4, 3\)"),
    "cu float": ({"cu_seqlens": torch.tensor([0.0, 10.0])}, r"cu_seqlens must be a 1-D integer tensor"),
    "cu 2-D": ({"cu_seqlens": torch.tensor([[0, 10]])}, r"cu_seqlens must be a 1-D integer tensor"),
    "cu list": ({"cu_seqlens": [0, 10]}, r"cu_seqlens must be a 1-D integer torch.Tensor, got list"),
    "cu start": ({"cu_seqlens": torch.tensor([1, 10])}, r"cu_seqlens must start at 0, got 1"),
    "cu order": ({"cu_seqlens": torch.tensor([0, 6, 6, 10])}, r"strictly increasing .*\[0, 6, 6, 10\]"),
    "cu end": ({"cu_seqlens": torch.tensor([0, 4, 9])}, r"cu_seqlens must end at T=10, got 9"),
    "cu short": ({"cu_seqlens": torch.tensor([0])}, r"at least 2 entries"),
    "chunk 0": ({"chunk_size": 0}, r"chunk_size must be a positive power of 2 .*got 0"),
    "chunk 12": ({"chunk_size": 12}, r"chunk_size must be a positive power of 2 .*got 12"),
    "chunk float": ({"chunk_size": 16.0}, r"chunk_size must be a positive power of 2 .*got 16.0"),
    "device": ({"beta": torch.rand(B, T, H, device="meta")}, r"beta is on meta but q is on cpu"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_argument_raises_one_clear_line(case: str) -> None:
    changes, pattern = CASES[case]
    with pytest.raises(ValueError, match=r"^chunk_gated_delta_rule: .*" + pattern) as err:
        call_gdn(**changes)
    assert "\n" not in str(err.value)


def test_batch_must_be_one_with_cu_seqlens() -> None:
    q = torch.randn(2, T, H, K)
    with pytest.raises(ValueError, match=r"B must be 1, got B=2"):
        kernels.chunk_kda(q, q, torch.randn(2, T, H, V), -torch.rand(2, T, H, K), torch.rand(2, T, H),
                          cu_seqlens=torch.tensor([0, 10]))


def test_each_op_checks_its_own_gate_shape() -> None:
    x = good()
    with pytest.raises(ValueError, match=r"^chunk_kda: g must have shape \(B, T, H, K\) = \(1, 10, 2, 4\)"):
        kernels.chunk_kda(x["q"], x["k"], x["v"], x["g"], x["beta"])
    with pytest.raises(ValueError, match=r"^fused_recurrent_kda: g must have shape \(B, T, H, K\)"):
        kernels.fused_recurrent_kda(x["q"], x["k"], x["v"], x["g"], x["beta"])
    with pytest.raises(ValueError, match=r"^fused_recurrent_gated_delta_rule: beta must have shape"):
        kernels.fused_recurrent_gated_delta_rule(x["q"], x["k"], x["v"], x["g"], x["beta"][..., None])
    with pytest.raises(ValueError, match=r"^chunk_simple_gla: g must have shape \(B, T, H\)"):
        kernels.chunk_simple_gla(x["q"], x["k"], x["v"], -torch.rand(B, T, H, K))
    with pytest.raises(ValueError, match=r"^fused_recurrent_simple_gla: cu_seqlens must end at T=10"):
        kernels.fused_recurrent_simple_gla(x["q"], x["k"], x["v"], cu_seqlens=torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"^chunk_delta_rule: v must have shape"):
        kernels.chunk_delta_rule(x["q"], x["k"], x["v"][:, :5], x["beta"])


def test_valid_arguments_pass() -> None:
    o, S = call_gdn(initial_state=torch.zeros(2, H, K, V), cu_seqlens=torch.tensor([0, 4, 10], dtype=torch.int32),
                    output_final_state=True, chunk_size=4, scale=1)
    assert o.shape == (B, T, H, V) and S.shape == (2, H, K, V)
