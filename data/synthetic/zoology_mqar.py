"""Zoology's multi-query associative recall (Arora et al. 2023) on integer tokens, as Zoology's own configs set it up.

    inputs  k1 v1 k2 v2 ... kP vP | x x k2 x x x k1 x ...      (x: random tokens, or 0 with random_fill=False)
    labels  -100 ...          -100 | .. .. v2 .. .. .. v1 ..    (the value is predicted AT its query key)

Keys come from [1, vocab/2), values from [vocab/2, vocab), each used once per row; the queries of all P keys sit in
the section after the pairs at gaps drawn without replacement from a power law p(gap) ~ gap^(power_a - 1)
(Zoology's default power_a = 0.01 favours short gaps). Only the answers are scored (labels -100 elsewhere).
"""
from __future__ import annotations

import numpy as np
import torch


def zoology_mqar(
    n: int, vocab: int, seq_len: int, pairs: int, seed: int, power_a: float = 0.01, random_fill: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """n rows of (inputs, labels), each int64 (n, seq_len); labels are -100 except at the P answer positions."""
    if seq_len % 2 or 4 * pairs > seq_len:
        raise ValueError(f"zoology_mqar: seq_len={seq_len}, pairs={pairs}; valid: even seq_len >= 4 * pairs")
    if vocab <= seq_len or vocab // 2 - 1 < pairs:
        raise ValueError(f"zoology_mqar: vocab={vocab} is too small; valid: vocab > seq_len and vocab / 2 > pairs")
    rng = np.random.default_rng(seed)
    half, ctx = vocab // 2, 2 * pairs
    keys = np.stack([rng.choice(np.arange(1, half), pairs, replace=False) for _ in range(n)])
    vals = np.stack([rng.choice(np.arange(half, vocab), pairs, replace=False) for _ in range(n)])
    space = (seq_len - ctx) // 2
    p = np.arange(1, space + 1, dtype=np.float64) ** (power_a - 1)
    gaps = np.stack([rng.choice(space, pairs, replace=False, p=p / p.sum()) for _ in range(n)])  # (n, P)
    x = np.zeros((n, seq_len + 1), dtype=np.int64)
    x[:, 0:ctx:2], x[:, 1:ctx:2] = keys, vals
    np.put_along_axis(x, ctx + 2 * gaps, keys, axis=1)  # query key k_i at an even offset of the query section
    y = np.full((n, seq_len + 1), -100, dtype=np.int64)
    np.put_along_axis(y, ctx + 2 * gaps + 1, vals, axis=1)  # its value is the next token
    inputs, labels = torch.from_numpy(x[:, :-1]), torch.from_numpy(y[:, 1:])
    if random_fill:
        noise = torch.from_numpy(rng.integers(0, vocab, size=inputs.shape))
        inputs = torch.where(inputs == 0, noise, inputs)
    return inputs, labels
