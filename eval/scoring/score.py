"""Scoring cases: batch them by length, decode greedily through the cache, and mark each answer right or wrong."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from data.synthetic.vocab import VOCAB, Vocab
from eval.scoring.decode import greedy_match
from eval.probes.base import Case


@dataclass
class Scored:
    """One answer's outcome: exact match or not, with the labels it is sliced by."""

    labels: dict[str, Any]
    correct: bool


def batches(cases: Sequence[Case], batch_size: int) -> Iterator[list[Case]]:
    """Cases grouped by (prompt length, answer length), in chunks of at most `batch_size`, in a fixed order."""
    if batch_size < 1:
        raise ValueError(f"eval.batch_size={batch_size} must be >= 1")
    groups: dict[tuple[int, int], list[Case]] = defaultdict(list)
    for case in cases:
        groups[(len(case.prompt), len(case.answer))].append(case)
    for key in sorted(groups):
        group = groups[key]
        for i in range(0, len(group), batch_size):
            yield group[i : i + batch_size]


def score_batch(
    model: torch.nn.Module,
    batch: Sequence[Case],
    device: torch.device,
    state_dtype: torch.dtype | None = None,
    segment: int = 64,
    vocab: Vocab = VOCAB,
) -> list[Scored]:
    """Score one batch of equal-length cases: the decoded answer of each, then its answers inside the prompt."""
    prompt = torch.tensor([[vocab.bos_id, *vocab.encode(c.prompt)] for c in batch], device=device)  # (B, 1 + T)
    answer = torch.tensor([vocab.encode(c.answer) for c in batch], device=device)  # (B, A)
    next_tokens, correct = greedy_match(model, prompt, answer, state_dtype=state_dtype, segment=segment)
    next_tokens, correct = next_tokens.tolist(), correct.tolist()
    out: list[Scored] = []
    for b, case in enumerate(batch):
        out.append(Scored(case.labels, bool(correct[b])))
        for pos, token, labels in case.inner:
            # prompt[pos] sits at index pos + 1 after <|bos|>, so the prediction for it is made at index pos.
            out.append(Scored(labels, next_tokens[b][pos] == vocab.token_to_id(token)))
    return out


def score_cases(
    model: torch.nn.Module,
    cases: Sequence[Case],
    device: torch.device,
    batch_size: int = 32,
    state_dtype: torch.dtype | None = None,
    segment: int = 64,
    on_batch: Callable[[int], None] | None = None,
) -> list[Scored]:
    """Score every case; `on_batch(n_cases)` is called after each batch (for a progress bar)."""
    out: list[Scored] = []
    for batch in batches(cases, batch_size):
        out += score_batch(model, batch, device, state_dtype, segment)
        if on_batch is not None:
            on_batch(len(batch))
    return out
