"""Scoring cases: batch them by length, decode greedily through the cache, and mark each answer right or wrong."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from eval.probes.base import Case
from eval.scoring.decode import greedy_match, greedy_text_match
from eval.scoring.render import Rendered, Renderer, TextRenderer, WordRenderer


@dataclass
class Scored:
    """One answer's outcome: exact match or not, with the labels it is sliced by."""

    labels: dict[str, Any]
    correct: bool


def batches(cases: Sequence[Rendered], batch_size: int, by_answer: bool = True) -> Iterator[list[Rendered]]:
    """Cases grouped by prompt length in tokens (and answer length, unless answers are compared as text), in chunks
    of at most `batch_size`, in a fixed order."""
    if batch_size < 1:
        raise ValueError(f"eval.batch_size={batch_size} must be >= 1")
    groups: dict[tuple[int, int], list[Rendered]] = defaultdict(list)
    for case in cases:
        groups[(len(case.prompt), len(case.answer) if by_answer else 0)].append(case)
    for key in sorted(groups):
        group = groups[key]
        for i in range(0, len(group), batch_size):
            yield group[i : i + batch_size]


def score_batch(
    model: torch.nn.Module,
    batch: Sequence[Rendered],
    device: torch.device,
    renderer: Renderer,
    state_dtype: torch.dtype | None = None,
    segment: int = 64,
) -> list[Scored]:
    """Score one batch of equal-length cases: the decoded answer of each, then its answers inside the prompt.

    An inner answer is right when the argmax from the true prefix gives each of its tokens (what greedy decoding from
    there writes) and, under a text tokenizer, the token after it ends the word."""
    prompt = torch.tensor([r.prompt for r in batch], device=device)  # (B, 1 + T)
    if isinstance(renderer, TextRenderer):
        next_tokens, correct = greedy_text_match(model, prompt, [r.target for r in batch], renderer,
                                                 state_dtype=state_dtype, segment=segment)
        ends_word = renderer.ends_word
    else:
        answer = torch.tensor([r.answer for r in batch], device=device)  # (B, A)
        next_tokens, correct = greedy_match(model, prompt, answer, state_dtype=state_dtype, segment=segment)
        correct = correct.tolist()

        def ends_word(token: int) -> bool:  # every word-vocabulary token is a whole word
            return True
    next_tokens = next_tokens.tolist()
    out: list[Scored] = []
    for b, r in enumerate(batch):
        out.append(Scored(r.case.labels, bool(correct[b])))
        preds = next_tokens[b]
        for first, end, labels in r.inner:
            # The token at index i is predicted at index i - 1.
            right = all(preds[i - 1] == r.prompt[i] for i in range(first, end)) and ends_word(preds[end - 1])
            out.append(Scored(labels, right))
    return out


def score_cases(
    model: torch.nn.Module,
    cases: Sequence[Case],
    device: torch.device,
    batch_size: int = 32,
    state_dtype: torch.dtype | None = None,
    segment: int = 64,
    on_batch: Callable[[int], None] | None = None,
    renderer: Renderer | None = None,
) -> list[Scored]:
    """Score every case rendered by `renderer` (default: the word vocabulary); `on_batch(n_cases)` after each batch."""
    renderer = renderer or WordRenderer()
    out: list[Scored] = []
    # Text answers are compared as text, so only word-vocabulary batches need one answer length.
    by_answer = not isinstance(renderer, TextRenderer)
    for batch in batches([renderer.render(c) for c in cases], batch_size, by_answer):
        out += score_batch(model, batch, device, renderer, state_dtype, segment)
        if on_batch is not None:
            on_batch(len(batch))
    return out
