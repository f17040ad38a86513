"""Multi-turn carry-over: each turn looks up the previous turn's result in a table; the last turn needs them all.

    <|user|> 41 : 7 ; 30 : 61 ; 7 : 88 ; 88 : 12 ; .              the table (chain entries + distractors, shuffled)
    <|user|> x5 = 41 : ? <|assistant|> 7 .                         turn 1: look 41 up
    <|user|> x9 = x5 : ? <|assistant|> 88 .                        turn 2: look up the result of turn 1
    <|user|> x2 = x9 : ? <|assistant|>                             -> answer: 12

An agent's earlier turns write intermediate results that later turns need. With `strip=False` the assistant's
earlier replies (its worked results) stay in the context, so the last turn is one lookup of the previous reply; with
`strip=True` they are removed (each reply is just "."), as agent frameworks that drop earlier reasoning do, and the
last turn must redo every lookup from the table in one go. MiniMax found that stripping earlier reasoning hurt their
agents; the gap between the two renderings of the same draws measures how much a model leans on what it wrote.

Axes:
    num_turns        lookup turns, the last one asked (>= 1); the table's chain has this many links
    num_distractors  table entries off the chain
    strip            drop the assistant's earlier replies
"""
from __future__ import annotations

import random

from data.synthetic.special_tokens import ASSISTANT, USER
from data.synthetic.tasks.example import Example
from data.synthetic.vocab import NUMBERS, VARIABLES

TRAIN_AXES: dict[str, object] = {
    "num_turns": (1, 4),
    "num_distractors": (0, 8),
    "strip": [False, True],
}


def make(rng: random.Random, num_turns: int = 3, num_distractors: int = 4, strip: bool = False) -> Example:
    """A table turn then `num_turns` lookup turns, each reading the previous result; answer: the last result."""
    if num_turns < 1 or num_distractors < 0:
        raise ValueError(f"num_turns={num_turns} must be >= 1 and num_distractors={num_distractors} >= 0")
    if num_turns + 1 + num_distractors > len(NUMBERS) or num_turns > len(VARIABLES):
        raise ValueError(f"num_turns={num_turns} with num_distractors={num_distractors} needs more distinct numbers "
                         f"or variables than the vocabulary has ({len(NUMBERS)}, {len(VARIABLES)})")
    numbers = rng.sample(NUMBERS, num_turns + 1 + num_distractors)
    chain, free = numbers[: num_turns + 1], numbers[num_turns + 1 :]
    table = [(chain[i], chain[i + 1]) for i in range(num_turns)]
    table += [(key, rng.choice(NUMBERS)) for key in free]  # keys off the chain, values anywhere
    rng.shuffle(table)
    names = rng.sample(VARIABLES, num_turns)

    prompt = [USER]
    for key, value in table:
        prompt += [key, ":", value, ";"]
    prompt.append(".")
    for t in range(num_turns):
        source = chain[0] if t == 0 else names[t - 1]
        prompt += [USER, names[t], "=", source, ":", "?", ASSISTANT]
        if t < num_turns - 1:
            prompt += ["."] if strip else [chain[t + 1], "."]
    labels = {"num_turns": num_turns, "num_distractors": num_distractors, "strip": strip}
    return Example(prompt=prompt, answer=[chain[-1]], slice_labels=labels)


def solve(prompt: list[str]) -> list[str]:
    """Parse the table turn, then evaluate each 'VAR = SOURCE : ?' turn in order, ignoring the assistant's replies."""
    turns: list[list[str]] = []
    for tok in prompt:
        if tok == USER:
            turns.append([])
        else:
            turns[-1].append(tok)
    table_turn = turns[0]
    table = {table_turn[i]: table_turn[i + 2] for i in range(0, len(table_turn) - 1, 4)}
    env: dict[str, str] = {}
    result = None
    for turn in turns[1:]:
        var, source = turn[0], turn[2]
        result = table[env.get(source, source)]
        env[var] = result
    if result is None:
        raise ValueError("carryover prompt has no lookup turn")
    return [result]
