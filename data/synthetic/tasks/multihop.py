"""Variable-chain tracking: follow assignments from a queried variable back to the number at the chain's root.

    x7 = 5 ; x30 = 12 ; x2 = x7 ; x9 = x30 ; x41 = x2 ; x41 ?        -> answer: 5   (2 hops: x41 -> x2 -> x7)

The queried chain is one literal assignment followed by `num_hops` variable-to-variable links. Distractor chains
(their own literal, a random number of links from 0 to num_hops, so length is no cue) are interleaved at random
while every chain keeps its own order, so each variable is defined before it is read and one left-to-right pass
suffices. All variables are distinct; distractor roots never equal the answer.

Axes:
    num_hops         variable-to-variable links between the queried variable and the literal (0 = direct lookup)
    num_distractors  other chains interleaved with the queried one
"""
from __future__ import annotations

import random
from itertools import pairwise

from data.synthetic.tasks.example import Example
from data.synthetic.vocab import NUMBERS, VARIABLES

TRAIN_AXES: dict[str, object] = {
    "num_hops": (1, 4),  # 5..8 hops are held out for the multihop probe
    "num_distractors": (0, 4),
}


def _chain(variables: list[str], literal: str) -> list[list[str]]:
    """Statements of one chain: first = literal, then each next variable copies the previous one."""
    stmts = [[variables[0], "=", literal]]
    for prev, var in pairwise(variables):
        stmts.append([var, "=", prev])
    return stmts


def make(rng: random.Random, num_hops: int = 2, num_distractors: int = 2) -> Example:
    """A program of interleaved assignment chains and a question about the end of one chain; answer: its number."""
    if num_hops < 0 or num_distractors < 0:
        raise ValueError(f"num_hops={num_hops} and num_distractors={num_distractors} must be >= 0")
    distractor_links = [rng.randint(0, num_hops) for _ in range(num_distractors)]
    n_vars = num_hops + 1 + sum(n + 1 for n in distractor_links)
    if n_vars > len(VARIABLES):
        raise ValueError(
            f"num_hops={num_hops} with num_distractors={num_distractors} needs {n_vars} variables; "
            f"the vocabulary has {len(VARIABLES)}"
        )
    names = rng.sample(VARIABLES, n_vars)
    literals = rng.sample(NUMBERS, 1 + num_distractors)  # distinct roots: a wrong chain never gives the answer

    chains = [_chain(names[: num_hops + 1], literals[0])]
    start = num_hops + 1
    for links, literal in zip(distractor_links, literals[1:]):
        chains.append(_chain(names[start : start + links + 1], literal))
        start += links + 1

    # A uniformly random interleaving that keeps each chain's order: draw chains in proportion to what they have left.
    remaining = [len(c) for c in chains]
    cursor = [0] * len(chains)
    prompt: list[str] = []
    for _ in range(sum(remaining)):
        i = rng.choices(range(len(chains)), weights=remaining)[0]
        prompt += chains[i][cursor[i]] + [";"]
        cursor[i] += 1
        remaining[i] -= 1
    prompt += [names[num_hops], "?"]
    labels = {"num_hops": num_hops, "num_distractors": num_distractors}
    return Example(prompt=prompt, answer=[literals[0]], slice_labels=labels)


def solve(prompt: list[str]) -> list[str]:
    """Parse 'VAR = X ;' statements, then follow the queried variable ('VAR ?') until a number."""
    env: dict[str, str] = {}
    for i, tok in enumerate(prompt):
        if tok == "=":
            env[prompt[i - 1]] = prompt[i + 1]
    target = prompt[-2]
    seen = set()
    while target in env:
        if target in seen:
            raise ValueError(f"assignment cycle through {target!r}")
        seen.add(target)
        target = env[target]
    return [target]
