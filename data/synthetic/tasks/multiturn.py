"""Multi-turn key-value dialogue: track facts a user sets and overwrites across turns, then answer for one key.

    <|user|> set k3 = v7 . <|user|> set k8 = v1 . <|user|> what is k3 ? <|assistant|> v7
    <|user|> update k3 = v9 . <|user|> what is k3 ? <|assistant|>          -> answer: v9

Each fact turn sets one key ("set" the first time, "update" afterwards, always to a new value). Optional question
turns about already-set keys appear answered, as in a real dialogue. The final turn asks one of the keys uniformly.
With `single_turn=True` the same facts (same draws) arrive in one user turn, "set k3 = v7 . update k3 = v9 . ...",
a control that separates "many turns" from "many facts"; intermediate questions are left out there.

Axes:
    num_turns      turns before the final question, fact and question turns together (>= 1)
    num_keys       distinct keys set in the dialogue (1..128); each is set at least once
    num_questions  answered question turns among the num_turns (the rest are fact turns, at least num_keys)
    single_turn    render the facts as one user turn (control) instead of one fact per turn
Derived slice labels:
    turn_age       turns from the one that last set the asked key to the final question, counted in the
                   multi-turn rendering (1 = the turn right before the question); the control reports its twin's
    overwrites     times the asked key was updated after it was first set
"""
from __future__ import annotations

import random

from data.synthetic.special_tokens import ASSISTANT, USER
from data.synthetic.tasks.example import Example
from data.synthetic.vocab import KEYS, VALUES

TRAIN_AXES: dict[str, object] = {
    "num_turns": (6, 16),
    "num_keys": (1, 4),
    "num_questions": (0, 2),
    "single_turn": [False, True],
}


# every value but one, per value: the draw of a new value for a key is then one choice, not a list per turn
_OTHER_VALUES: dict[str, tuple[str, ...]] = {v: tuple(x for x in VALUES if x != v) for v in VALUES}


def _fact(verb: str, key: str, value: str) -> list[str]:
    return [verb, key, "=", value, "."]


def _question(key: str) -> list[str]:
    return ["what", "is", key, "?", ASSISTANT]


def make(
    rng: random.Random,
    num_turns: int = 8,
    num_keys: int = 4,
    num_questions: int = 0,
    single_turn: bool = False,
) -> Example:
    """A dialogue of `num_turns` turns followed by a question about one key; the answer is its latest value."""
    if not 1 <= num_keys <= len(KEYS):
        raise ValueError(f"num_keys={num_keys} is out of range; valid: 1..{len(KEYS)}")
    if num_questions < 0 or num_turns - num_questions < num_keys:
        raise ValueError(
            f"num_turns={num_turns}, num_questions={num_questions}, num_keys={num_keys}: "
            "need num_questions >= 0 and num_turns - num_questions >= num_keys (each key set at least once)"
        )
    num_facts = num_turns - num_questions
    keys = rng.sample(KEYS, num_keys)
    fact_keys = keys + [rng.choice(keys) for _ in range(num_facts - num_keys)]
    rng.shuffle(fact_keys)
    # Question turns never come first: something must be set before it can be asked.
    question_turns = set(rng.sample(range(1, num_turns), num_questions))

    current: dict[str, str] = {}
    last_set_turn: dict[str, int] = {}
    times_set: dict[str, int] = {}
    turns: list[list[str]] = []  # one token list per turn, without the <|user|> marker
    facts = iter(fact_keys)
    for t in range(num_turns):
        if t in question_turns:
            key = rng.choice(sorted(current))
            turns.append(_question(key) + [current[key]])
            continue
        key = next(facts)
        value = rng.choice(_OTHER_VALUES[current[key]] if key in current else VALUES)
        turns.append(_fact("update" if key in current else "set", key, value))
        current[key] = value
        last_set_turn[key] = t
        times_set[key] = times_set.get(key, 0) + 1

    asked = rng.choice(keys)
    if single_turn:
        prompt = [USER]
        for t, turn in enumerate(turns):
            if t not in question_turns:
                prompt += turn
        prompt += _question(asked)
    else:
        prompt = []
        for turn in turns:
            prompt += [USER, *turn]
        prompt += [USER, *_question(asked)]
    labels = {
        "num_turns": num_turns,
        "num_keys": num_keys,
        "num_questions": num_questions,
        "single_turn": single_turn,
        "turn_age": num_turns - last_set_turn[asked],
        "overwrites": times_set[asked] - 1,
    }
    return Example(prompt=prompt, answer=[current[asked]], slice_labels=labels)


def make_sequence(rng: random.Random, **axes: object) -> tuple[list[str], list[bool]]:
    """`make(rng, **axes)`'s tokens (prompt + answer, the same draws) and a mask that is True on every answer: the
    final one and each answered question turn inside the prompt, which training under data.loss_on=answers scores
    too (as every query of an MQAR sequence is)."""
    ex = make(rng, **axes)  # type: ignore[arg-type]
    inner = [i > 0 and ex.prompt[i - 1] == ASSISTANT for i in range(len(ex.prompt))]
    return ex.tokens, inner + [True] * len(ex.answer)


def solve(prompt: list[str]) -> list[str]:
    """The value of the last 'KEY = VALUE' for the key asked at the end ('what is KEY ? <|assistant|>')."""
    asked = prompt[-3]
    value = None
    for i, tok in enumerate(prompt[:-1]):
        if tok == "=" and prompt[i - 1] == asked:
            value = prompt[i + 1]
    if value is None:
        raise ValueError(f"key {asked!r} is asked but never set in the prompt")
    return [value]
