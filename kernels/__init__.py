"""Linear-attention kernels with FLA-compatible signatures, in three forms per op (see kernels/README.md).

    naive_recurrent_*   float64 token-by-token reference: the oracle the tests hold every other path to
    chunk_*             chunked form for training and prefill (PyTorch on CPU; Triton on CUDA)
    fused_recurrent_*   token-by-token form for decoding from a cached state
    linear_cross_entropy  the LM head's loss in row chunks (naive_linear_cross_entropy: full logits, its reference)
Gates are in log space; the recurrent state is float32 whatever the input dtype. Which implementation runs is
chosen by `set_backend` (auto | triton | torch); the Triton path's launch choices are a `LaunchConfig` (`launch=`).
"""
from kernels.backend import get_backend, resolve_backend, set_backend
from kernels.config import KernelConfig
from kernels.cross_entropy import linear_cross_entropy, naive_linear_cross_entropy
from kernels.delta_rule import (
    chunk_delta_rule,
    chunk_gated_delta_rule,
    chunk_kda,
    fused_recurrent_delta_rule,
    fused_recurrent_gated_delta_rule,
    fused_recurrent_kda,
    naive_recurrent_gated_delta_rule,
)
from kernels.simple_gla import chunk_simple_gla, fused_recurrent_simple_gla, naive_recurrent_simple_gla
from kernels.utils.launch import DEFAULT_LAUNCH, LaunchConfig

__all__ = [
    "DEFAULT_LAUNCH",
    "KernelConfig",
    "LaunchConfig",
    "chunk_delta_rule",
    "chunk_gated_delta_rule",
    "chunk_kda",
    "chunk_simple_gla",
    "fused_recurrent_delta_rule",
    "fused_recurrent_gated_delta_rule",
    "fused_recurrent_kda",
    "fused_recurrent_simple_gla",
    "get_backend",
    "linear_cross_entropy",
    "naive_linear_cross_entropy",
    "naive_recurrent_gated_delta_rule",
    "naive_recurrent_simple_gla",
    "resolve_backend",
    "set_backend",
]
