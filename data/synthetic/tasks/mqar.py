"""Multi-query associative recall (MQAR), after Zoology: recall the value bound to a key seen earlier in the context.

A full sequence of `seq_len` tokens:

    k12 v3 k40 v77 ... k5 v9 <|query|> the cold k40 v77 ran slowly k12 v3 ...
    |--- num_kv_pairs pairs ---|       |------------- query section -------------|

Keys and values come from disjoint vocabulary ranges (k*, v*), each key and each value is used once. The query
section is a run of two-token slots; `num_queries` of them hold a context key followed by its value, the rest hold
filler words. Which slots hold queries is drawn from a power law over the slot index, p(s) ~ (s + 1)^(power_a - 1),
so short gaps are likelier, as in Zoology's `power_a`.

`make` returns an Example whose prompt runs through the last query's key (earlier queries appear answered) and whose
answer is that key's value. `make_sequence` renders the whole fixed-length sequence with every query answered plus
a mask of the answer positions, for Zoology-style training where only the recalled values are scored.

Axes:
    num_kv_pairs   key-value pairs in the context (1..128)
    seq_len        tokens in the full sequence (context + <|query|> + query section); the Example is a prefix
    num_queries    how many context keys are queried, each at most once (None: all of them)
    power_a        exponent of the power law over query slots (Zoology's default is 0.01)
Derived slice labels:
    gap            tokens from the queried key in the context to its query (the recall distance)
"""
from __future__ import annotations

import math
import random

from data.synthetic.filler_words import FILLER_WORDS
from data.synthetic.special_tokens import QUERY
from data.synthetic.tasks.example import Example
from data.synthetic.vocab import KEYS, VALUES

TRAIN_AXES: dict[str, object] = {
    "num_kv_pairs": (2, 24),
    "seq_len": (128, 256),
    "num_queries": None,
    "power_a": 0.01,
}


def _power_law_slots(rng: random.Random, n_slots: int, k: int, power_a: float) -> list[int]:
    """k distinct slot indices, drawn without replacement with weight (s + 1)^(power_a - 1); sorted."""
    # Efraimidis-Spirakis: the k largest log(u) / w_s are a weighted sample without replacement.
    scored = [(math.log(1.0 - rng.random()) * (s + 1) ** (1.0 - power_a), s) for s in range(n_slots)]
    scored.sort(reverse=True)
    return sorted(s for _, s in scored[:k])


def _render(
    rng: random.Random, num_kv_pairs: int, seq_len: int, num_queries: int | None, power_a: float
) -> tuple[list[str], list[bool], int, int]:
    """Full sequence, its answer mask, the position of the last query's key, and the gap of that query."""
    if not 1 <= num_kv_pairs <= min(len(KEYS), len(VALUES)):
        raise ValueError(f"num_kv_pairs={num_kv_pairs} is out of range; valid: 1..{min(len(KEYS), len(VALUES))}")
    n_queries = num_kv_pairs if num_queries is None else num_queries
    if not 1 <= n_queries <= num_kv_pairs:
        raise ValueError(f"num_queries={num_queries} is out of range; valid: 1..num_kv_pairs ({num_kv_pairs}) or None")
    if power_a <= 0:
        raise ValueError(f"power_a={power_a} must be > 0")
    n_slots = (seq_len - 2 * num_kv_pairs - 1) // 2
    if n_slots < n_queries:
        need = 2 * num_kv_pairs + 1 + 2 * n_queries
        raise ValueError(
            f"seq_len={seq_len} is too short for {num_kv_pairs} pairs and {n_queries} queries; need >= {need}"
        )

    keys = rng.sample(KEYS, num_kv_pairs)
    values = rng.sample(VALUES, num_kv_pairs)
    tokens: list[str] = []
    for k, v in zip(keys, values):
        tokens += (k, v)
    tokens.append(QUERY)

    slots = _power_law_slots(rng, n_slots, n_queries, power_a)
    queried = rng.sample(range(num_kv_pairs), n_queries)  # pair index asked at each chosen slot, in slot order
    ask = dict(zip(slots, queried))
    mask = [False] * len(tokens)
    tail = seq_len - len(tokens) - 2 * n_slots  # 0 or 1 when the query section has odd length
    # one draw for every filler word, in order: the same random numbers as a draw per empty slot
    filler = rng.choices(FILLER_WORDS, k=2 * (n_slots - n_queries) + tail)
    used = 0
    last_key_pos, last_gap = -1, -1
    for s in range(n_slots):
        if s in ask:
            pair = ask[s]
            last_key_pos, last_gap = len(tokens), len(tokens) - 2 * pair
            tokens += (keys[pair], values[pair])
            mask += (False, True)
        else:
            tokens += filler[used:used + 2]
            used += 2
            mask += (False, False)
    tokens += filler[used:]
    mask += [False] * tail
    return tokens, mask, last_key_pos, last_gap


def make(
    rng: random.Random,
    num_kv_pairs: int = 8,
    seq_len: int = 128,
    num_queries: int | None = None,
    power_a: float = 0.01,
) -> Example:
    """An MQAR example whose answer is the value of the last query; earlier queries appear answered in the prompt."""
    tokens, _, key_pos, gap = _render(rng, num_kv_pairs, seq_len, num_queries, power_a)
    n_queries = num_kv_pairs if num_queries is None else num_queries
    labels = {"num_kv_pairs": num_kv_pairs, "seq_len": seq_len, "num_queries": n_queries, "power_a": power_a,
              "gap": gap}
    return Example(prompt=tokens[: key_pos + 1], answer=[tokens[key_pos + 1]], slice_labels=labels)


def make_sequence(
    rng: random.Random,
    num_kv_pairs: int = 8,
    seq_len: int = 128,
    num_queries: int | None = None,
    power_a: float = 0.01,
) -> tuple[list[str], list[bool]]:
    """The full `seq_len`-token sequence with every query answered, and a mask that is True on each answer token.

    With the same rng state, `make(...)`'s prompt + answer is a prefix of this sequence.
    """
    tokens, mask, _, _ = _render(rng, num_kv_pairs, seq_len, num_queries, power_a)
    return tokens, mask


def solve(prompt: list[str]) -> list[str]:
    """Look the prompt's final key up in the key-value pairs before <|query|>."""
    context = prompt[: prompt.index(QUERY)]
    table = dict(zip(context[0::2], context[1::2]))
    return [table[prompt[-1]]]
