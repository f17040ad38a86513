"""Filler text: sentences from a tiny seeded grammar, a stand-in for "regular prompts" in the training mixture.

    the quiet farmer carries a basket across the bridge . every fox sleeps ... -> answer: (none)

Grammar (probabilities fixed in code):
    sentence := clause [conjunction clause] "."
    clause   := noun_phrase verb (noun_phrase [preposition noun_phrase] | adverb)
    noun_phrase := determiner [adjective] noun
The text carries no fact to recall, so the answer is empty: the task exists so the LM loss on plain text can be
measured next to the recall tasks, and `solve` accordingly returns [].

Axes:
    num_words   minimum length of the text in tokens (periods included); sentences are added until it is reached
Derived slice labels:
    num_sentences  sentences in the text
"""
from __future__ import annotations

import random

from data.synthetic.filler_words import ADJECTIVES, ADVERBS, CONJUNCTIONS, DETERMINERS, NOUNS, PREPOSITIONS, VERBS
from data.synthetic.tasks.example import Example

TRAIN_AXES: dict[str, object] = {
    "num_words": (16, 128),
}


def _noun_phrase(rng: random.Random) -> list[str]:
    words = [rng.choice(DETERMINERS)]
    if rng.random() < 0.5:
        words.append(rng.choice(ADJECTIVES))
    words.append(rng.choice(NOUNS))
    return words


def _clause(rng: random.Random) -> list[str]:
    words = _noun_phrase(rng) + [rng.choice(VERBS)]
    if rng.random() < 0.2:
        return words + [rng.choice(ADVERBS)]
    words += _noun_phrase(rng)
    if rng.random() < 0.3:
        words += [rng.choice(PREPOSITIONS)] + _noun_phrase(rng)
    return words


def sentence(rng: random.Random) -> list[str]:
    """One sentence of the grammar, ending with '.'."""
    words = _clause(rng)
    if rng.random() < 0.25:
        words += [rng.choice(CONJUNCTIONS)] + _clause(rng)
    return words + ["."]


def make(rng: random.Random, num_words: int = 32) -> Example:
    """Whole sentences totalling at least `num_words` tokens; the answer is empty."""
    if num_words < 1:
        raise ValueError(f"num_words={num_words} must be >= 1")
    text: list[str] = []
    n_sentences = 0
    while len(text) < num_words:
        text += sentence(rng)
        n_sentences += 1
    return Example(prompt=text, answer=[], slice_labels={"num_words": num_words, "num_sentences": n_sentences})


def solve(prompt: list[str]) -> list[str]:
    """Plain text asks nothing, so there is nothing to answer."""
    return []
