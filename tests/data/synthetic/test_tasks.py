"""Task generators: seeded and varied, answers agree with independent solvers, slice labels tell the truth."""
from __future__ import annotations

import random
from statistics import mean

import pytest

from data.synthetic.filler_words import FILLER_WORDS
from data.synthetic.special_tokens import ASSISTANT, QUERY, USER
from data.synthetic.tasks import TASKS, Example, filler, get_task, mqar, multihop, multiturn, sample_axes
from data.synthetic.vocab import KEYS, NUMBERS, VALUES, VARIABLES, VOCAB

# Axis settings beyond training ranges, as a probe would pass them.
HELD_OUT = {
    "mqar": [
        {"num_kv_pairs": 64, "seq_len": 1024},
        {"num_kv_pairs": 128, "seq_len": 600, "num_queries": 10, "power_a": 0.5},
    ],
    "multiturn": [{"num_turns": 48, "num_keys": 12, "num_questions": 6}, {"num_turns": 40, "num_keys": 40},
                  {"num_turns": 30, "num_keys": 3, "single_turn": True}],
    "multihop": [{"num_hops": 0, "num_distractors": 0}, {"num_hops": 12, "num_distractors": 3}],
    "filler": [{"num_words": 1}, {"num_words": 500}],
    # The probe tasks (their own tests live in tests/eval/probes/test_probe_tasks.py).
    "copy": [{"length": 1, "mode": "reverse"}, {"length": 128, "mode": "copy"}],
    "state": [{"kind": "stack", "num_ops": 1}, {"kind": "s3", "num_ops": 200}, {"kind": "parity", "num_ops": 100}],
    "carryover": [{"num_turns": 12, "num_distractors": 20, "strip": True}, {"num_turns": 1, "num_distractors": 0}],
    "niah": [{"context_len": 2048, "depth": 0.0, "num_needles": 8}, {"context_len": 4, "depth": 1.0}],
}


def _draws(name: str, n: int, seed: int = 0):
    """(axes, example) pairs: n at training axes plus each held-out setting a few times."""
    task = TASKS[name]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        axes = sample_axes(task.TRAIN_AXES, rng)
        out.append((axes, task.make(rng, **axes)))
    for axes in HELD_OUT[name]:
        for _ in range(5):
            out.append((axes, task.make(rng, **axes)))
    return out


@pytest.mark.parametrize("name", sorted(TASKS))
def test_deterministic_per_seed_and_varied_across_seeds(name):
    task = TASKS[name]
    axes = sample_axes(task.TRAIN_AXES, random.Random(123))
    a, b = task.make(random.Random(7), **axes), task.make(random.Random(7), **axes)
    assert isinstance(a, Example)
    assert (a.prompt, a.answer, a.slice_labels) == (b.prompt, b.answer, b.slice_labels)
    prompts = {tuple(task.make(random.Random(s), **axes).prompt) for s in range(6)}
    assert len(prompts) == 6


@pytest.mark.parametrize("name", sorted(TASKS))
def test_answers_match_independent_solver_and_tokens_are_in_vocab(name):
    task = TASKS[name]
    for axes, ex in _draws(name, 300):
        assert task.solve(ex.prompt) == ex.answer, (axes, ex)
        VOCAB.encode(ex.tokens)  # raises on any token outside the vocabulary


@pytest.mark.parametrize("name", sorted(TASKS))
def test_slice_labels_carry_the_axes(name):
    for axes, ex in _draws(name, 50):
        for axis, value in axes.items():
            if value is not None:
                assert ex.slice_labels[axis] == value, (axis, ex.slice_labels)


def test_registry_and_axis_sampler():
    assert get_task("mqar") is mqar
    with pytest.raises(ValueError, match="nope.*filler, mqar, multihop, multiturn"):
        get_task("nope")
    rng = random.Random(0)
    draws = [sample_axes({"i": (2, 4), "f": (0.5, 1.0), "c": ["a", "b"], "k": 9}, rng) for _ in range(200)]
    assert {d["i"] for d in draws} == {2, 3, 4}
    assert all(0.5 <= d["f"] <= 1.0 for d in draws) and {d["c"] for d in draws} == {"a", "b"}
    assert all(d["k"] == 9 for d in draws)


# --- solvers read prompts, not generator state -----------------------------------------------------------------

def _t(text: str) -> list[str]:
    return text.split()


def test_solvers_on_handwritten_prompts():
    assert mqar.solve(_t("k1 v5 k2 v9 <|query|> the k1 v5 dog k2")) == ["v9"]
    dialogue = (
        "<|user|> set k3 = v7 . <|user|> update k3 = v9 . <|user|> set k4 = v1 . <|user|> what is k3 ? <|assistant|>"
    )
    assert multiturn.solve(_t(dialogue)) == ["v9"]
    assert multihop.solve(_t("x1 = 5 ; x7 = 8 ; x2 = x1 ; x3 = x2 ; x3 ?")) == ["5"]
    assert filler.solve(_t("the dog sees a cat .")) == []


# --- mqar --------------------------------------------------------------------------------------------------------

def test_mqar_sequence_layout_and_answer_mask():
    for seed in range(30):
        seq, mask = mqar.make_sequence(random.Random(seed), num_kv_pairs=10, seq_len=101, num_queries=6)
        ex = mqar.make(random.Random(seed), num_kv_pairs=10, seq_len=101, num_queries=6)
        assert len(seq) == len(mask) == 101
        assert seq[: len(ex.tokens)] == ex.tokens  # the Example is a prefix of the full sequence
        assert seq[20] == QUERY
        ctx_keys, ctx_values = seq[0:20:2], seq[1:20:2]
        assert set(ctx_keys) <= set(KEYS) and set(ctx_values) <= set(VALUES)
        assert len(set(ctx_keys)) == 10 and len(set(ctx_values)) == 10
        table = dict(zip(ctx_keys, ctx_values))
        answered = [i for i, m in enumerate(mask) if m]
        assert len(answered) == 6 and all(i > 20 for i in answered)
        assert all(seq[i] == table[seq[i - 1]] for i in answered)
        assert len({seq[i - 1] for i in answered}) == 6  # each key queried at most once
        # Outside the answered queries the query section is filler only.
        query_positions = {i for i in answered} | {i - 1 for i in answered}
        assert all(seq[i] in FILLER_WORDS for i in range(21, 101) if i not in query_positions)
        assert ex.answer == [seq[answered[-1]]]  # the last query is the one asked


def test_mqar_gap_label_is_the_recall_distance():
    for seed in range(50):
        ex = mqar.make(random.Random(seed), num_kv_pairs=12, seq_len=200)
        key_pos_in_context = ex.prompt.index(ex.prompt[-1])
        assert ex.slice_labels["gap"] == len(ex.prompt) - 1 - key_pos_in_context


def test_mqar_power_law_favours_short_gaps():
    def mean_first_query_offset(power_a: float) -> float:
        offsets = []
        for seed in range(200):
            _, mask = mqar.make_sequence(random.Random(seed), num_kv_pairs=4, seq_len=209, power_a=power_a)
            offsets.append(mask.index(True) - 9)  # tokens after <|query|>
        return mean(offsets)

    # power_a = 1 is uniform over slots; Zoology's 0.01 puts queries close to the context.
    assert mean_first_query_offset(0.01) < 0.6 * mean_first_query_offset(1.0)


def test_mqar_rejects_impossible_axes():
    with pytest.raises(ValueError, match="seq_len=20"):
        mqar.make(random.Random(0), num_kv_pairs=8, seq_len=20)
    with pytest.raises(ValueError, match="num_kv_pairs=129"):
        mqar.make(random.Random(0), num_kv_pairs=129, seq_len=10_000)
    with pytest.raises(ValueError, match="num_queries=9"):
        mqar.make(random.Random(0), num_kv_pairs=8, seq_len=200, num_queries=9)


# --- multiturn ---------------------------------------------------------------------------------------------------

def _turns(prompt: list[str]) -> list[list[str]]:
    """Split a multi-turn prompt into its user turns (marker dropped)."""
    turns: list[list[str]] = []
    for tok in prompt:
        if tok == USER:
            turns.append([])
        else:
            turns[-1].append(tok)
    return turns


def test_multiturn_turn_age_and_overwrites_recomputed_from_prompt():
    rng = random.Random(0)
    seen_ages = set()
    for _ in range(300):
        axes = {"num_turns": rng.randint(5, 20), "num_keys": rng.randint(1, 3), "num_questions": rng.randint(0, 2)}
        ex = multiturn.make(rng, **axes)
        turns = _turns(ex.prompt)
        assert len(turns) == axes["num_turns"] + 1
        asked = turns[-1][2]
        assert turns[-1] == ["what", "is", asked, "?", ASSISTANT]
        set_turns = [t for t, turn in enumerate(turns) if turn[0] in ("set", "update") and turn[1] == asked]
        assert ex.slice_labels["turn_age"] == len(turns) - 1 - set_turns[-1]
        assert ex.slice_labels["overwrites"] == len(set_turns) - 1
        assert sum(turn[0] == "what" for turn in turns[:-1]) == axes["num_questions"]
        assert len({turn[1] for turn in turns if turn[0] == "set"}) == axes["num_keys"]
        seen_ages.add(ex.slice_labels["turn_age"])
    assert len(seen_ages) > 5


def test_multiturn_dialogue_is_consistent():
    rng = random.Random(1)
    for _ in range(100):
        ex = multiturn.make(rng, num_turns=12, num_keys=3, num_questions=3)
        current: dict[str, str] = {}
        for turn in _turns(ex.prompt)[:-1]:
            if turn[0] == "what":  # an answered question gives the value current at that point
                assert turn[-1] == current[turn[2]]
            else:
                verb, key, _, value, _ = turn
                assert verb == ("update" if key in current else "set")
                assert value != current.get(key)  # an update always changes the value
                current[key] = value


def test_multiturn_single_turn_control_has_the_same_facts():
    for seed in range(50):
        axes = {"num_turns": 10, "num_keys": 3, "num_questions": 2}
        multi = multiturn.make(random.Random(seed), **axes)
        single = multiturn.make(random.Random(seed), single_turn=True, **axes)
        assert single.prompt.count(USER) == 1 and single.prompt[0] == USER
        facts = [t for t in _turns(multi.prompt)[:-1] if t[0] != "what"]
        assert single.prompt[1:] == [tok for fact in facts for tok in fact] + _turns(multi.prompt)[-1]
        assert single.answer == multi.answer
        assert {k: v for k, v in single.slice_labels.items() if k != "single_turn"} == {
            k: v for k, v in multi.slice_labels.items() if k != "single_turn"
        }


def test_multiturn_sequence_scores_every_answered_question():
    # Under data.loss_on=answers the answered question turns are answers too (as every MQAR query is); scoring only
    # the final one left about half of the dialogue task's answers untrained.
    from data.synthetic.task_mixture import draw_scored_example

    inner_seen = 0
    for seed in range(60):
        axes = {"num_turns": 10, "num_keys": 3, "num_questions": 2, "single_turn": seed % 2 == 1}
        seq, mask = multiturn.make_sequence(random.Random(seed), **axes)
        ex = multiturn.make(random.Random(seed), **axes)
        assert seq == ex.tokens and len(mask) == len(seq) and mask[-1]
        scored = [i for i, m in enumerate(mask) if m]
        for i in scored[:-1]:  # each inner answer is the value its question asks for, solved from its prefix
            assert seq[i - 1] == ASSISTANT and [seq[i]] == multiturn.solve(seq[:i])
        inner_seen += len(scored) - 1
        assert len(scored) - 1 == (0 if axes["single_turn"] else 2)  # the control renders no question turns
    assert inner_seen == 60
    tokens, mask = draw_scored_example(random.Random(3), ["multiturn"], [1.0])
    assert sum(mask) >= 1 and all(tokens[i - 1] == ASSISTANT for i, m in enumerate(mask) if m)


def test_multiturn_rejects_too_few_fact_turns():
    with pytest.raises(ValueError, match="num_turns=4"):
        multiturn.make(random.Random(0), num_turns=4, num_keys=3, num_questions=2)


# --- multihop ----------------------------------------------------------------------------------------------------

def _statements(prompt: list[str]) -> list[list[str]]:
    body = prompt[:-2]  # drop "xN ?"
    stmts, cur = [], []
    for tok in body:
        if tok == ";":
            stmts.append(cur)
            cur = []
        else:
            cur.append(tok)
    assert cur == []
    return stmts


def test_multihop_hops_and_distractors_recomputed_from_prompt():
    rng = random.Random(0)
    for _ in range(300):
        axes = {"num_hops": rng.randint(0, 10), "num_distractors": rng.randint(0, 4)}
        ex = multihop.make(rng, **axes)
        stmts = _statements(ex.prompt)
        assert all(len(s) == 3 and s[1] == "=" and s[0] in VARIABLES for s in stmts)
        defined = set()
        for lhs, _, rhs in stmts:  # single assignment, each variable defined before it is read
            assert lhs not in defined and (rhs in NUMBERS or rhs in defined)
            defined.add(lhs)
        env = {lhs: rhs for lhs, _, rhs in stmts}
        hops, var = 0, ex.prompt[-2]
        while env[var] not in NUMBERS:
            var, hops = env[var], hops + 1
        assert hops == axes["num_hops"]
        roots = [rhs for _, _, rhs in stmts if rhs in NUMBERS]
        assert len(roots) == 1 + axes["num_distractors"]
        assert roots.count(ex.answer[0]) == 1  # no distractor chain ends in the answer


def test_multihop_rejects_more_variables_than_the_vocab_has():
    with pytest.raises(ValueError, match="variables"):
        multihop.make(random.Random(0), num_hops=63, num_distractors=1)


# --- filler ------------------------------------------------------------------------------------------------------

def test_filler_is_whole_grammar_sentences():
    rng = random.Random(0)
    for _ in range(100):
        n = rng.randint(1, 200)
        ex = filler.make(rng, num_words=n)
        assert ex.answer == [] and len(ex.prompt) >= n and ex.prompt[-1] == "."
        assert all(tok in FILLER_WORDS or tok == "." for tok in ex.prompt)
        assert ex.prompt.count(".") == ex.slice_labels["num_sentences"]
        # Whole sentences only: dropping the last one would fall short of num_words.
        dots = [i for i, tok in enumerate(ex.prompt) if tok == "."]
        assert (dots[-2] + 1 if len(dots) > 1 else 0) < n
