"""State tracking: the top of a stack under push/pop, and the product of a word in a permutation group.

    <|sep|> pushes 5 ; pushes 7 ; drops ; pushes 3 ; <|query|>      -> answer: 3     (kind "stack")
    <|sep|> 2 : 1 0 1 1 <|query|>                                  -> answer: 1     (kind "parity", S2)
    <|sep|> 3 : 4 1 0 5 <|query|>                                  -> answer: 2     (kind "s3")

These are the tasks where a model must carry a state forward rather than look something up: parity is the simplest
(linear RNNs need negative eigenvalues to do it; Grazzi et al., 2025) and composition in the non-abelian group S3 a
harder one (Merrill et al., 2024). A stack adds unbounded depth. The fixed vocabulary has no "push"/"pop" words, so
the filler verbs "pushes" and "drops" stand in.

Group words start with n (the group is S_n) and a colon; each element is a number token: the index of a permutation
of 0..n-1 in lexicographic order (for S2, 0 = identity and 1 = swap, so the product is the parity of the ones).
The product applies the elements left to right: the answer is the index of p_m ∘ ... ∘ p_1.
A stack never pops when empty and always ends non-empty; its answer is the top value.

Axes:
    kind      "stack" | "parity" | "s3"
    num_ops   stack operations, or group elements in the word (>= 1)
Derived slice labels (stack only):
    final_depth   values on the stack at the end
    top_age       operations since the top value was pushed (1 = the last operation pushed it)
"""
from __future__ import annotations

import random
from itertools import permutations

from data.synthetic.special_tokens import QUERY, SEP
from data.synthetic.tasks.example import Example
from data.synthetic.vocab import NUMBERS

PUSH, POP = "pushes", "drops"
GROUP_SIZE: dict[str, int] = {"parity": 2, "s3": 3}
"""Group kinds -> n of S_n."""
KINDS: tuple[str, ...] = ("stack", *GROUP_SIZE)

TRAIN_AXES: dict[str, object] = {
    "kind": list(KINDS),
    "num_ops": (4, 32),
}


def _perms(n: int) -> list[tuple[int, ...]]:
    return list(permutations(range(n)))


def _stack(rng: random.Random, num_ops: int) -> Example:
    stack: list[tuple[str, int]] = []  # (value, op index that pushed it)
    body: list[str] = []
    for t in range(num_ops):
        last = t == num_ops - 1
        # Pop only when it leaves something to ask about at the end.
        can_pop = len(stack) > (1 if last else 0)
        if can_pop and rng.random() < 0.45:
            stack.pop()
            body += [POP, ";"]
        else:
            value = rng.choice(NUMBERS)
            stack.append((value, t))
            body += [PUSH, value, ";"]
    top, pushed_at = stack[-1]
    labels = {"kind": "stack", "num_ops": num_ops, "final_depth": len(stack), "top_age": num_ops - pushed_at}
    return Example(prompt=[SEP, *body, QUERY], answer=[top], slice_labels=labels)


def _group_word(rng: random.Random, kind: str, num_ops: int) -> Example:
    n = GROUP_SIZE[kind]
    perms = _perms(n)
    word = [rng.randrange(len(perms)) for _ in range(num_ops)]
    state = tuple(range(n))  # the composition so far, as the image of 0..n-1
    for idx in word:
        p = perms[idx]
        state = tuple(p[s] for s in state)  # apply p after what came before
    labels = {"kind": kind, "num_ops": num_ops}
    return Example(prompt=[SEP, str(n), ":", *(NUMBERS[i] for i in word), QUERY],
                   answer=[NUMBERS[perms.index(state)]], slice_labels=labels)


def make(rng: random.Random, kind: str = "stack", num_ops: int = 8) -> Example:
    """A stack program or a group word of `num_ops` operations; the answer is the top value or the product."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is unknown; valid: {', '.join(KINDS)}")
    if num_ops < 1:
        raise ValueError(f"num_ops={num_ops} must be >= 1")
    return _stack(rng, num_ops) if kind == "stack" else _group_word(rng, kind, num_ops)


def solve(prompt: list[str]) -> list[str]:
    """Run the stack program, or multiply the permutations (as lookup tables of where each point goes)."""
    body = prompt[1:-1]
    if body and body[0] in (PUSH, POP):
        stack: list[str] = []
        i = 0
        while i < len(body):
            if body[i] == PUSH:
                stack.append(body[i + 1])
                i += 3
            else:
                stack.pop()
                i += 2
        return [stack[-1]]
    n = int(body[0])
    table = _perms(n)
    where = list(range(n))  # where[x] = image of x under the product so far
    for tok in body[2:]:
        p = table[int(tok)]
        where = [p[where[x]] for x in range(n)]
    return [str(table.index(tuple(where)))]
