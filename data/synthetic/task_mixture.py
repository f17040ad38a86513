"""The weighted task mixture of the synthetic data: which tasks it holds, and one document body drawn from it.

A document body is one task drawn by weight and made at that task's TRAIN_AXES. When only answers are scored, the
scored tokens are each task's answers (a task with `make_sequence` marks them: every answered query of an MQAR
sequence, as Zoology scores it, every answered question of a dialogue); filler text, having no answer, is scored
everywhere.
"""
from __future__ import annotations

import random
from collections.abc import Mapping

from data.synthetic.tasks import TASKS, sample_axes


def check_mixture(mixture: Mapping[str, float]) -> dict[str, float]:
    """The tasks with a positive weight; unknown tasks, negative weights or no positive one raise ValueError."""
    for name, weight in mixture.items():
        if name not in TASKS:
            raise ValueError(f"mixture task {name!r} is unknown; valid: {', '.join(sorted(TASKS))}")
        if weight < 0:
            raise ValueError(f"mixture weight {name}={weight} must be >= 0")
    if sum(mixture.values()) <= 0:
        raise ValueError(f"mixture {dict(mixture)} needs at least one positive weight")
    return {str(name): float(w) for name, w in mixture.items() if w > 0}


def draw_example_tokens(rng: random.Random, names: list[str], weights: list[float]) -> list[str]:
    """One training document body (vocabulary tokens): a task drawn by weight, made at its TRAIN_AXES."""
    task = TASKS[rng.choices(names, weights)[0]]
    return task.make(rng, **sample_axes(task.TRAIN_AXES, rng)).tokens


def draw_scored_example(rng: random.Random, names: list[str], weights: list[float]) -> tuple[list[str], list[bool]]:
    """Like draw_example_tokens, plus which tokens are scored when only answers are: the answers of each task
    (`make_sequence`'s mask where the task has one, else the Example's answer); filler text is scored everywhere."""
    name = rng.choices(names, weights)[0]
    task = TASKS[name]
    axes = sample_axes(task.TRAIN_AXES, rng)
    if hasattr(task, "make_sequence"):
        tokens, mask = task.make_sequence(rng, **axes)
        return list(tokens), [bool(m) for m in mask]
    ex = task.make(rng, **axes)
    if not ex.answer:  # plain text: the regular-prompt loss
        return ex.tokens, [True] * len(ex.tokens)
    return ex.tokens, [False] * len(ex.prompt) + [True] * len(ex.answer)
