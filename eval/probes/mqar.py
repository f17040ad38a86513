"""MQAR probe: multi-query associative recall on Zoology's axes (key-value pairs x sequence length, power-law gaps).

Like Zoology, every query of a sequence is scored, each answer on its own: the sequence is fed once and the value
after each queried key must be the argmax there (greedy decoding from the true prefix), the last one decoded through
the cache. Accuracy falls with the number of pairs for a fixed-size recurrent state and stays up for attention
(Arora et al., 2023), so the plot is accuracy against pairs, one line per sequence length.
"""
from __future__ import annotations

import random
from typing import Any

from data.synthetic.tasks import mqar
from eval.probes.base import Case, Plot, Probe, log2_bucket

GRID: list[dict[str, Any]] = [
    {"seq_len": seq_len, "num_kv_pairs": pairs}
    for seq_len, pairs in [(128, 4), (128, 8), (256, 8), (256, 16), (256, 24), (256, 32), (256, 48),
                           (512, 16), (512, 32), (512, 64), (1024, 64), (1024, 128)]
]


def mqar_cases(rng: random.Random, axes: dict[str, Any]) -> list[Case]:
    """One sequence per case: every query answer is scored, the last decoded, the others read from the prefill."""
    tokens, mask = mqar.make_sequence(rng, **axes)
    answers = [i for i, m in enumerate(mask) if m]
    first_pos = {tok: i for i, tok in reversed(list(enumerate(tokens)))}  # first occurrence: the context pair
    base = {"seq_len": axes["seq_len"], "num_kv_pairs": axes["num_kv_pairs"]}

    def labels(i: int) -> dict[str, Any]:
        key_pos = i - 1
        return {**base, "gap": key_pos - first_pos[tokens[key_pos]]}

    last = answers[-1]
    inner = [(i, tokens[i], labels(i)) for i in answers[:-1]]
    return [Case(prompt=tokens[:last], answer=[tokens[last]], labels=labels(last), inner=inner)]


PROBE = Probe(
    name="mqar",
    task="mqar",
    grid=GRID,
    plots=[Plot("num_kv_pairs", "seq_len"), Plot("gap", "seq_len")],
    slice_by=("num_kv_pairs", "seq_len", "gap"),
    buckets={"gap": log2_bucket},
    make_cases=mqar_cases,
)
