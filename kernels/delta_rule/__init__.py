"""The delta-rule family (DeltaNet, Gated DeltaNet, KDA): naive reference, chunked and recurrent forms."""
from kernels.delta_rule.api import (
    chunk_delta_rule,
    chunk_gated_delta_rule,
    chunk_kda,
    fused_recurrent_delta_rule,
    fused_recurrent_gated_delta_rule,
    fused_recurrent_kda,
)
from kernels.delta_rule.naive import naive_recurrent_gated_delta_rule

__all__ = [
    "chunk_delta_rule",
    "chunk_gated_delta_rule",
    "chunk_kda",
    "fused_recurrent_delta_rule",
    "fused_recurrent_gated_delta_rule",
    "fused_recurrent_kda",
    "naive_recurrent_gated_delta_rule",
]
