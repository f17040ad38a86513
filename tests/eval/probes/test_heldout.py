"""Held-out settings are never trained on: by the TRAIN_AXES spec, and in the documents the training stream emits."""
from __future__ import annotations

import random
from collections import defaultdict
from itertools import islice

import pytest

from data.synthetic.special_tokens import BOS, EOS, QUERY, SEP, USER
from data.synthetic.stream import SyntheticStream
from data.synthetic.tasks import TASKS, carryover, mqar, multihop
from data.synthetic.vocab import NUMBERS, VOCAB
from eval.probes.heldout import outside_training
from eval.probes import PROBES


def test_outside_training_reads_ranges_lists_and_defaults():
    assert outside_training(multihop, {"num_hops": 4, "num_distractors": 0}) == []
    assert outside_training(multihop, {"num_hops": 5}) == ["num_hops"]
    assert outside_training(mqar, {"num_kv_pairs": 8, "seq_len": 200}) == []
    assert outside_training(mqar, {"num_kv_pairs": 64, "seq_len": 1024}) == ["num_kv_pairs", "seq_len"]
    assert outside_training(mqar, {"num_kv_pairs": 8, "seq_len": 128, "power_a": 0.5}) == ["power_a"]
    assert outside_training(carryover, {"strip": True, "num_turns": 2}) == []
    with pytest.raises(ValueError, match="num_hop"):
        outside_training(multihop, {"num_hop": 3})


def test_multihop_trains_on_one_to_four_hops_and_probes_five_to_eight_held_out():
    assert multihop.TRAIN_AXES["num_hops"] == (1, 4)
    held = {s.axes["num_hops"] for s in PROBES["multihop"].settings if s.heldout}
    train = {s.axes["num_hops"] for s in PROBES["multihop"].settings if not s.heldout}
    assert held == {5, 6, 7, 8} and train == {1, 2, 3, 4}


@pytest.mark.parametrize("name", list(PROBES))
def test_every_probe_has_training_length_and_held_out_settings(name):
    settings = PROBES[name].settings
    assert any(s.heldout for s in settings) and any(not s.heldout for s in settings)
    for s in settings:
        # Every setting must be generable (a bad grid fails here, not in the middle of a GPU run).
        PROBES[name].task_module.make(random.Random(0), **s.axes)


# --- the training stream itself ----------------------------------------------------------------------------------

def _chain_hops(body: list[str]) -> int:
    env = {body[i - 1]: body[i + 1] for i, tok in enumerate(body) if tok == "="}
    var, hops = body[-3], 0  # "... xN ? ANSWER"
    while env[var] not in NUMBERS:
        var, hops = env[var], hops + 1
    return hops


def _observe(task: str, doc: list[str]) -> dict[str, int]:
    """Axis values recovered from one training document's tokens (mqar's seq_len as a lower bound: the Example is a
    prefix of the full sequence)."""
    if task == "mqar":
        return {"num_kv_pairs": doc.index(QUERY) // 2, "seq_len": len(doc)}
    if task == "multiturn":
        keys = {doc[i - 1] for i, tok in enumerate(doc) if tok == "="}
        if doc.count(USER) == 1:  # the single-turn control: its turns are not countable, its keys are
            return {"num_keys": len(keys)}
        return {"num_turns": doc.count(USER) - 1, "num_keys": len(keys)}
    if task == "multihop":
        return {"num_hops": _chain_hops(doc)}
    if task == "niah":
        return {"context_len": len(doc) - 6}
    if task == "copy":
        return {"length": doc.index(SEP, 2) - 2}  # MODE <|sep|> s_1 .. s_n <|sep|> answer
    if task == "state":
        body = doc[1 : doc.index(QUERY)]
        return {"num_ops": body.count(";") if ";" in body else len(body) - 2}
    if task == "carryover":
        return {"num_turns": doc.count(USER) - 1}
    return {}


@pytest.mark.parametrize("name", list(PROBES))
def test_held_out_values_never_appear_in_training_documents(name):
    probe = PROBES[name]
    stream = SyntheticStream(seq_len=512, mixture={probe.task: 1.0}, seed=3)
    observed: dict[str, set[int]] = defaultdict(set)
    for ids in islice(stream.documents(random.Random(stream.stream_key(0, 0))), 400):
        doc = VOCAB.decode(ids)
        assert doc[0] == BOS and doc[-1] == EOS
        for axis, value in _observe(probe.task, doc[1:-1]).items():
            observed[axis].add(value)
    assert observed, f"no axis recovered for {name}"
    for s in probe.settings:
        if not s.heldout:
            continue
        # A held-out setting goes beyond what training ever showed on at least one axis it is held out on.
        beyond = [a for a in outside_training(probe.task_module, s.axes)
                  if a in observed and s.axes[a] > max(observed[a])]
        assert beyond, (name, s.axes, {a: max(v) for a, v in observed.items()})
    # The probe's training-length settings really are covered by what the stream shows.
    for s in probe.settings:
        if not s.heldout:
            for axis, values in observed.items():
                if axis in s.axes and axis != "seq_len":
                    assert min(values) <= s.axes[axis] <= max(values), (name, axis, s.axes[axis])


def test_tasks_registry_holds_the_probe_tasks():
    assert {p.task for p in PROBES.values()} <= set(TASKS)
