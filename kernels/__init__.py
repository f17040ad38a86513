"""Linear-attention kernels with FLA-compatible signatures (see kernels/README or ../GUIDE).

PROVISIONAL: the public functions below currently run the naive reference; the chunked PyTorch path replaces them.
"""
from kernels.delta_rule import (
    chunk_delta_rule,
    chunk_gated_delta_rule,
    chunk_kda,
    fused_recurrent_delta_rule,
    fused_recurrent_gated_delta_rule,
    fused_recurrent_kda,
)
from kernels.simple_gla import chunk_simple_gla, fused_recurrent_simple_gla

__all__ = [
    "chunk_delta_rule",
    "chunk_gated_delta_rule",
    "chunk_kda",
    "chunk_simple_gla",
    "fused_recurrent_delta_rule",
    "fused_recurrent_gated_delta_rule",
    "fused_recurrent_kda",
    "fused_recurrent_simple_gla",
]
