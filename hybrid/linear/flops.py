"""Forward FLOPs per token of the chunked linear-attention kernels, for MFU (projections are counted elsewhere).

Counted: the dense matmuls the chunked algorithms run, per head, as 2 FLOPs per multiply-add, with the causal C x C
blocks counted in full (the kernels compute them densely and mask). Elementwise work (decays, activations, masks,
norms) is left out: it is memory-bound and small next to the matmuls. A chunk never spans more than the sequence,
so C = min(chunk_size, seq_len). These are forward counts; training costs about three times as much.
"""

from __future__ import annotations


def effective_chunk(chunk_size: int, seq_len: int) -> int:
    return max(1, min(chunk_size, seq_len))


def decayed_linear_attention_flops(H: int, K: int, V: int, C: int) -> float:
    """Chunked (decayed) linear attention, per token: inter-chunk read q S and state write k^T v (2KV each) plus the
    intra-chunk scores q k^T (2CK) and their product with v (2CV)."""
    return float(H * (4 * K * V + 2 * C * (K + V)))


def delta_rule_flops(H: int, K: int, V: int, C: int) -> float:
    """Chunked (gated) delta rule in WY/UT form, per token: beta k k^T (2CK), the unit-triangular inverse by forward
    substitution (C^3/3 multiply-adds per chunk -> 2C^2/3), w = T beta k (2CK), u = T beta v (2CV); then the state
    terms u - w S, q S and k^T v_new (2KV each) and the intra-chunk q k^T (2CK) and its product with v_new (2CV)."""
    return float(H * (6 * K * V + 6 * C * K + 4 * C * V + 2 * C * C / 3))
