"""Scoring is right: an oracle scores 100%, random guessers score chance, greedy decoding through the cache agrees
with HybridLM.generate, segmented prefill equals one-shot prefill, and the bf16 state option rounds what it should."""
from __future__ import annotations

import math

import pytest
import torch

from eval.config import EvalConfig
from eval.scoring.decode import greedy_match
from eval.probes import PROBES
from eval.probes.base import Case
from eval.scoring.score import batches
from eval.scoring.state_precision import round_states, storage_dtype
from eval.suite import flat_metrics, run_suite
from hybrid.config import LinearConfig, ModelConfig
from hybrid.linear.cache import LinearCache
from hybrid.lm import HybridLM
from tests.eval.fakes import RandomGuesser, SolverOracle

ALL = list(PROBES)


def test_solver_oracle_scores_100_percent_on_every_slice():
    results = run_suite(SolverOracle(), EvalConfig(examples=2, regular_docs=0))
    assert list(results["probes"]) == ALL
    for name, report in results["probes"].items():
        assert report["n"] > 0
        for slice_name, acc in report["slices"].items():
            assert acc["n"] == 0 or acc["accuracy"] == 1.0, (name, slice_name, acc)
        assert report["slices"]["train"]["n"] > 0 and report["slices"]["heldout"]["n"] > 0
    # Zoology-style MQAR: every query of a sequence is an answer, not just the last one.
    assert results["probes"]["mqar"]["n"] == 2 * sum(s.axes["num_kv_pairs"] for s in PROBES["mqar"].settings)
    flat = flat_metrics(results)
    assert all(v == 1.0 for v in flat.values())
    # Headlines reach the loggers too, so the in-training callback traces the calibration targets over steps.
    assert {"probe/niah/single_needle_train_lengths", "probe/copy/copy_train_lengths",
            "probe/multiturn/multi_turn_train_lengths"} <= set(flat)


def test_one_wrong_token_fails_a_multi_token_answer():
    results = run_suite(SolverOracle(spoil_last=True), EvalConfig(examples=2, regular_docs=0),
                        probes=["copy", "multihop"])
    assert results["probes"]["copy"]["accuracy"] == 0.0  # every copy answer is >= 8 tokens
    assert results["probes"]["multihop"]["accuracy"] == 1.0  # one-token answers are untouched


def test_random_logits_score_near_zero():
    results = run_suite(RandomGuesser(seed=1), EvalConfig(examples=2, regular_docs=0))
    for name, report in results["probes"].items():
        assert report["accuracy"] < 0.03, (name, report["accuracy"])  # chance is 1/768 per token


def test_a_coin_flipper_scores_half_on_parity():
    results = run_suite(RandomGuesser(choices=["0", "1"], seed=2), EvalConfig(examples=40, regular_docs=0),
                        probes=["state"])
    parity = results["probes"]["state"]["headlines"]["parity"]
    assert parity["n"] == 200
    assert abs(parity["accuracy"] - 0.5) < 0.12, parity
    assert results["probes"]["state"]["headlines"]["stack"]["accuracy"] < 0.1  # stack tops are any of 100 numbers


def test_batches_hold_one_length_each():
    cases = [Case(["a"] * n, ["b"] * m, {}) for n, m in [(3, 1), (5, 1), (3, 1), (3, 2), (3, 1)]]
    got = list(batches(cases, batch_size=2))
    assert [len(b) for b in got] == [2, 1, 1, 1]
    for b in got:
        assert len({(len(c.prompt), len(c.answer)) for c in b}) == 1
    with pytest.raises(ValueError, match="batch_size=0"):
        list(batches(cases, 0))


# --- a real (tiny, random) hybrid model ---------------------------------------------------------------------------

def _tiny_lm(vocab_size: int = 128) -> HybridLM:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=vocab_size, d_model=32, n_layers=2, n_heads=2, head_dim=16, ratio="1:1",
                      linear=LinearConfig(variant="gated_deltanet", chunk_size=16))
    return HybridLM(cfg).eval()


def test_greedy_match_agrees_with_generate():
    model = _tiny_lm()
    prompt = torch.randint(0, 128, (3, 21))
    answer = model.generate(prompt, max_new_tokens=6)  # (3, 6)
    _, correct = greedy_match(model, prompt, answer)
    assert correct.tolist() == [True, True, True]
    wrong = answer.clone()
    wrong[1, 4] = (wrong[1, 4] + 1) % 128
    _, correct = greedy_match(model, prompt, wrong)
    assert correct.tolist() == [True, False, True]


def test_segmented_prefill_equals_one_shot():
    model = _tiny_lm()
    prompt = torch.randint(0, 128, (2, 45))
    answer = model.generate(prompt, max_new_tokens=3)
    one, ok_one = greedy_match(model, prompt, answer)
    # Rounding through fp32 is the identity, so this runs the segmented path with nothing else changed.
    seg, ok_seg = greedy_match(model, prompt, answer, state_dtype=torch.float32, segment=7)
    assert torch.equal(one, seg) and ok_one.tolist() == ok_seg.tolist() == [True, True]
    full_logits, _ = model(prompt)
    assert torch.equal(one, full_logits.argmax(-1))  # the cached prefill is the training forward


def test_round_states_rounds_the_linear_states_only():
    model = _tiny_lm()
    _, caches = model(torch.randint(0, 128, (2, 30)), model.new_cache())
    linear = [c for c in caches if isinstance(c, LinearCache)]
    before = [c.state.clone() for c in linear]
    others = [c for c in caches if not isinstance(c, LinearCache)]
    other_k = [c.k.clone() for c in others]
    assert round_states(caches, torch.bfloat16) == len(linear) == 1
    for c, b in zip(linear, before):
        assert c.state.dtype == torch.float32
        assert torch.equal(c.state, b.bfloat16().float()) and not torch.equal(c.state, b)
    assert all(torch.equal(c.k, k) for c, k in zip(others, other_k))
    assert round_states(caches, None) == 0
    assert storage_dtype("bf16") is torch.bfloat16 and storage_dtype("fp32") is None
    with pytest.raises(ValueError, match="'bf8'.*fp32, bf16, fp16"):
        storage_dtype("bf8")


def test_suite_runs_a_real_model_with_a_bf16_state():
    model = _tiny_lm(vocab_size=768).train()  # the probes' token ids need the real vocabulary
    results = run_suite(model, EvalConfig(examples=1, state_dtype="bf16", segment=16, regular_docs=4),
                        probes=["copy", "carryover"])
    assert model.training  # handed back as it came
    assert results["config"]["state_dtype"] == "bf16"
    assert set(results["probes"]) == {"copy", "carryover"}
    assert math.isfinite(results["regular"]["loss"]) and results["regular"]["loss"] > 0
    assert set(results["regular"]) == {"loss", "filler", "single_turn"}
    assert results["config"]["regular_kinds"] == ["filler", "single_turn"]


def test_regular_loss_averages_the_kinds_the_run_trains_on():
    from eval.scoring.regular import regular_loss
    from run.load import load_run_config

    assert load_run_config(["size=tiny"]).eval.regular_kinds == ["filler", "single_turn"]
    assert load_run_config(["size=tiny", "data.loss_on=answers"]).eval.regular_kinds == ["filler"]
    assert load_run_config(["size=tiny", "data.loss_on=answers", "eval.regular_kinds=[single_turn]"]
                           ).eval.regular_kinds == ["single_turn"]  # an explicit choice stands
    model = _tiny_lm(vocab_size=768).eval()
    both = regular_loss(model, 4, seed=1, device=torch.device("cpu"))
    filler = regular_loss(model, 4, seed=1, device=torch.device("cpu"), kinds=["filler"])
    assert filler["loss"] == pytest.approx(both["filler"])
    assert filler["single_turn"] == pytest.approx(both["single_turn"])  # every kind still reported
    assert min(both["filler"], both["single_turn"]) <= both["loss"] <= max(both["filler"], both["single_turn"])
    with pytest.raises(ValueError, match="'fillr'.*filler, single_turn"):
        run_suite(model, EvalConfig(examples=1, regular_kinds=["fillr"]), probes=["copy"])


def test_precision_choices():
    import contextlib

    from eval.suite import autocast_for

    cpu = torch.device("cpu")
    assert isinstance(autocast_for(cpu, "auto"), contextlib.nullcontext)  # CPU runs fp32 unless asked
    assert isinstance(autocast_for(cpu, "fp32"), contextlib.nullcontext)
    with autocast_for(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision='fp8'"):
        autocast_for(cpu, "fp8")
