"""Needle in a haystack: one or several "KEY = VALUE ." facts hidden in filler text; recall the value of one key.

    the old dog sees a cat . every fox ... k5 = v9 . the farmer carries ... what is k5 ? <|answer|>   -> v9
    |----------------------- context_len tokens (haystack + needles) -----------------------|

The haystack is filler-grammar text cut to length; needles go in at sentence boundaries. The asked needle sits at the
boundary closest to `depth` (0 = start, 1 = end of the context); with `num_needles > 1` (the multi-key variant, as in
RULER) the other needles carry other keys at random boundaries and act as distractors. Every prompt of one setting
has the same length, so a probe can batch them.

Axes:
    context_len   tokens before the question, needles included (>= 4 * num_needles)
    depth         where the asked needle sits, as a fraction of the context (0.0..1.0)
    num_needles   facts hidden in the haystack (1 = single needle; the asked one is always among them)
"""
from __future__ import annotations

import random

from data.synthetic.special_tokens import ANSWER
from data.synthetic.tasks.example import Example
from data.synthetic.tasks.filler import sentence
from data.synthetic.vocab import KEYS, VALUES

NEEDLE_LEN = 4
"""Tokens per needle: KEY = VALUE ."""

TRAIN_AXES: dict[str, object] = {
    "context_len": (32, 256),
    "depth": (0.0, 1.0),
    "num_needles": (1, 4),
}


def _haystack(rng: random.Random, n_tokens: int) -> tuple[list[str], list[int]]:
    """Filler text of exactly n_tokens and the positions (0..n_tokens) where a sentence may be inserted."""
    text: list[str] = []
    boundaries = [0]
    while len(text) < n_tokens:
        text += sentence(rng)
        boundaries.append(len(text))
    return text[:n_tokens], [b for b in boundaries if b <= n_tokens]


def make(rng: random.Random, context_len: int = 128, depth: float = 0.5, num_needles: int = 1) -> Example:
    """Filler text of `context_len` tokens holding `num_needles` facts; the question asks the one at `depth`."""
    if not 1 <= num_needles <= len(KEYS):
        raise ValueError(f"num_needles={num_needles} is out of range; valid: 1..{len(KEYS)}")
    if context_len < NEEDLE_LEN * num_needles:
        raise ValueError(f"context_len={context_len} is too short for {num_needles} needles; "
                         f"need >= {NEEDLE_LEN * num_needles}")
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth={depth} is out of range; valid: 0.0..1.0")
    hay_len = context_len - NEEDLE_LEN * num_needles
    text, bounds = _haystack(rng, hay_len)
    keys = rng.sample(KEYS, num_needles)
    values = rng.choices(VALUES, k=num_needles)
    target = hay_len * depth
    asked_at = min(bounds, key=lambda b: (abs(b - target), b))
    at = [asked_at] + [rng.choice(bounds) for _ in range(num_needles - 1)]

    # Insert from the back so earlier insertion points stay valid; ties keep the asked needle last (deepest).
    prompt = list(text)
    for i in sorted(range(num_needles), key=lambda i: (at[i], i == 0), reverse=True):
        prompt[at[i]:at[i]] = [keys[i], "=", values[i], "."]
    prompt += ["what", "is", keys[0], "?", ANSWER]
    labels = {"context_len": context_len, "depth": depth, "num_needles": num_needles}
    return Example(prompt=prompt, answer=[values[0]], slice_labels=labels)


def solve(prompt: list[str]) -> list[str]:
    """Find 'KEY = VALUE .' for the key of the final 'what is KEY ? <|answer|>'."""
    asked = prompt[-3]
    hits = [prompt[i + 1] for i in range(1, len(prompt) - 1) if prompt[i] == "=" and prompt[i - 1] == asked]
    if len(hits) != 1:
        raise ValueError(f"key {asked!r} is set {len(hits)} times in the prompt; expected once")
    return hits

