"""The probe-only task generators (copy, state, carryover, niah): answers re-derived by hand, labels recomputed from
the prompt, paired renderings identical in content. (Determinism and solver agreement for every task, these included,
are in tests/data/synthetic/test_tasks.py, which runs over the whole TASKS registry.)"""
from __future__ import annotations

import random
from itertools import permutations

import pytest

from data.synthetic.special_tokens import ANSWER, ASSISTANT, QUERY, SEP, USER
from data.synthetic.tasks import carryover, copy, niah, state
from data.synthetic.vocab import KEYS, NUMBERS, VALUES


def test_copy_and_reverse():
    for seed in range(50):
        rng = random.Random(seed)
        n = rng.randint(1, 80)
        fwd = copy.make(random.Random(seed), length=n, mode="copy")
        rev = copy.make(random.Random(seed), length=n, mode="reverse")
        body = fwd.prompt[2:-1]
        assert len(body) == n and all(t in NUMBERS for t in body)
        assert fwd.prompt[1] == SEP and fwd.prompt[-1] == SEP and len(fwd.prompt) == n + 3
        assert fwd.answer == body and rev.answer == body[::-1]  # same draws, two modes
        assert fwd.prompt[0] != rev.prompt[0]
    with pytest.raises(ValueError, match="mode='sideways'"):
        copy.make(random.Random(0), mode="sideways")


def test_stack_labels_recomputed_from_the_program():
    ages, depths = set(), set()
    for seed in range(300):
        ex = state.make(random.Random(seed), kind="stack", num_ops=random.Random(seed).randint(1, 60))
        assert ex.prompt[0] == SEP and ex.prompt[-1] == QUERY
        ops = " ".join(ex.prompt[1:-1]).split(" ;")[:-1]
        assert len(ops) == ex.slice_labels["num_ops"]
        stack: list[tuple[str, int]] = []
        for t, op in enumerate(ops):
            words = op.split()
            if words[0] == "pushes":
                stack.append((words[1], t))
            else:
                assert words == ["drops"] and stack, "pop on an empty stack"
                stack.pop()
        assert stack, "the program must end non-empty"
        assert ex.answer == [stack[-1][0]]
        assert ex.slice_labels["final_depth"] == len(stack)
        assert ex.slice_labels["top_age"] == len(ops) - stack[-1][1]
        ages.add(ex.slice_labels["top_age"])
        depths.add(ex.slice_labels["final_depth"])
    assert len(ages) > 5 and len(depths) > 5  # the labels actually vary


def test_parity_is_the_count_of_ones():
    for seed in range(100):
        ex = state.make(random.Random(seed), kind="parity", num_ops=37)
        assert ex.prompt[:3] == [SEP, "2", ":"]
        bits = ex.prompt[3:-1]
        assert set(bits) <= {"0", "1"} and len(bits) == 37
        assert ex.answer == [str(bits.count("1") % 2)]


def test_s3_product_by_permutation_matrices():
    perms = list(permutations(range(3)))

    def matrix(p):  # column j has a one in row p[j]: e_j -> e_{p(j)}
        return [[1 if p[j] == i else 0 for j in range(3)] for i in range(3)]

    def matmul(a, b):
        return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]

    answers = set()
    for seed in range(100):
        ex = state.make(random.Random(seed), kind="s3", num_ops=12)
        assert ex.prompt[:3] == [SEP, "3", ":"]
        m = matrix(perms[0])
        for tok in ex.prompt[3:-1]:
            m = matmul(matrix(perms[int(tok)]), m)  # apply left to right: the later element acts last
        assert m == matrix(perms[int(ex.answer[0])])
        answers.add(ex.answer[0])
    assert answers == {str(i) for i in range(6)}
    # Non-abelian: the order of a word matters, so the task is not counting.
    assert state.solve([SEP, "3", ":", "1", "2", QUERY]) != state.solve([SEP, "3", ":", "2", "1", QUERY])


def _turns(prompt):
    """The user turns of a prompt that opens with one (USER markers dropped)."""
    assert prompt[0] == USER
    starts = [i for i, tok in enumerate(prompt) if tok == USER]
    return [prompt[a + 1:b] for a, b in zip(starts, starts[1:] + [len(prompt)])]


def test_carryover_chain_kept_and_stripped():
    for seed in range(100):
        axes = {"num_turns": 1 + seed % 9, "num_distractors": seed % 7}
        kept = carryover.make(random.Random(seed), **axes, strip=False)
        stripped = carryover.make(random.Random(seed), **axes, strip=True)
        assert kept.answer == stripped.answer
        tk, ts = _turns(kept.prompt), _turns(stripped.prompt)
        assert tk[0] == ts[0]  # the same table
        table = {tk[0][i]: tk[0][i + 2] for i in range(0, len(tk[0]) - 1, 4)}
        assert len(table) == axes["num_turns"] + axes["num_distractors"]
        value = tk[1][2]
        for t, turn in enumerate(tk[1:], start=1):
            assert turn[1:6] == ["=", tk[t - 1][0] if t > 1 else value, ":", "?", ASSISTANT]
            value = table[value]
            if t < len(tk) - 1:
                assert turn[6:] == [value, "."]  # kept: the worked result is in the context
                assert ts[t][6:] == ["."]  # stripped: it is gone
        assert kept.answer == [value]


def test_niah_length_depth_and_keys():
    for seed in range(200):
        rng = random.Random(seed)
        axes = {"context_len": rng.choice([32, 100, 300]), "depth": rng.choice([0.0, 0.3, 0.5, 1.0]),
                "num_needles": rng.randint(1, 5)}
        ex = niah.make(random.Random(seed), **axes)
        assert len(ex.prompt) == axes["context_len"] + 5  # one length per setting: batchable
        assert ex.prompt[-5:] == ["what", "is", ex.prompt[-3], "?", ANSWER]
        needles = [i for i in range(len(ex.prompt) - 5) if ex.prompt[i] == "="]
        assert len(needles) == axes["num_needles"]
        assert len({ex.prompt[i - 1] for i in needles}) == axes["num_needles"]  # distinct keys
        assert all(ex.prompt[i - 1] in KEYS and ex.prompt[i + 1] in VALUES for i in needles)
        asked = next(i for i in needles if ex.prompt[i - 1] == ex.prompt[-3])
        assert ex.answer == [ex.prompt[asked + 1]]
        hay_before = asked - 1 - 4 * sum(1 for i in needles if i < asked)
        hay_len = axes["context_len"] - 4 * axes["num_needles"]
        # The needle sits at the sentence boundary nearest the asked depth; sentences are short.
        assert abs(hay_before / hay_len - axes["depth"]) <= 30 / hay_len


def test_rejects_impossible_axes():
    with pytest.raises(ValueError, match="context_len=7"):
        niah.make(random.Random(0), context_len=7, num_needles=2)
    with pytest.raises(ValueError, match="kind='queue'"):
        state.make(random.Random(0), kind="queue")
    with pytest.raises(ValueError, match="num_turns=0"):
        carryover.make(random.Random(0), num_turns=0)
