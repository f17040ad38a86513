"""Probes in a text run's tokens: every probe's ids are exactly the training document of the same task, answers are
judged by the words they spell (any token split, never a glued-on extra), and the few-shot form renders and scores."""
from __future__ import annotations

import random

import numpy as np
import pytest

from data.synthetic.docs import SyntheticDocs
from data.synthetic.tasks import TASKS, sample_axes
from data.text.tokenizer import TextTokenizer, train_bpe
from eval.config import EvalConfig
from eval.context import DEFAULT_SHOTS, ProbeContext, WORDS
from eval.probes import PROBES
from eval.probes.base import Case
from eval.scoring.render import TextRenderer
from eval.suite import run_suite
from tests.eval.fakes import TextSolverOracle
from tests.eval.text_corpus import make_texts


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    return TextTokenizer(train_bpe(make_texts(300), 600))


def _text_context(tok, trained_on_tasks: bool = True) -> ProbeContext:
    return ProbeContext(TextRenderer(tok), trained_on_tasks=trained_on_tasks)


@pytest.mark.parametrize("name", list(PROBES))
def test_a_probe_case_is_token_for_token_its_training_document(tok, name):
    """The training stream's document (SyntheticDocs with the tokenizer, as data.synthetic_weight builds it) and the
    probe's rendering of the very same Example are the same ids."""
    probe = PROBES[name]
    renderer = TextRenderer(tok)
    docs = SyntheticDocs({probe.task: 1.0}, key="equality", encode=tok.encode_words)
    rng = random.Random("equality")  # SyntheticDocs seeds its generator with its key
    task = TASKS[probe.task]
    for _ in range(4):
        rng.choices([probe.task], [1.0])  # the mixture's draw of a task, as draw_example_tokens makes it
        ex = task.make(rng, **sample_axes(task.TRAIN_AXES, rng))
        trained = next(docs)
        r = renderer.render(Case(prompt=ex.prompt, answer=ex.answer, labels={}))
        assert r.prompt + r.answer == trained[:-1].tolist() and trained[-1] == tok.eos_id
        assert tok.decode(r.answer) == r.target == " " + " ".join(ex.answer)


def test_probe_settings_render_like_training_documents_and_inner_answers_are_whole_words(tok):
    renderer = TextRenderer(tok)
    for name, probe in PROBES.items():
        for setting in probe.settings[:3]:
            for case in probe.cases(setting, 1, seed=5):
                r = renderer.render(case)
                assert r.prompt + r.answer == tok.encode_words(case.prompt + case.answer)[:-1].tolist(), name
                for (first, end, _), (_, word, _) in zip(r.inner, case.inner):
                    assert tok.decode(r.prompt[first:end]).strip() == word


def test_text_oracle_scores_100_percent_whatever_the_token_split(tok):
    for split in ("canonical", "chars"):
        results = run_suite(TextSolverOracle(tok, split), EvalConfig(examples=1, regular_docs=0),
                            context=_text_context(tok))
        assert results["config"]["tokens"] == "text" and list(results["probes"]) == list(PROBES)
        for name, report in results["probes"].items():
            assert report["n"] > 0 and report["accuracy"] == 1.0, (split, name, report["accuracy"])


def test_a_digit_glued_to_the_answer_is_another_word(tok):
    results = run_suite(TextSolverOracle(tok, "glued"), EvalConfig(examples=1, regular_docs=0),
                        context=_text_context(tok), probes=["copy", "multihop", "state"])
    for name, report in results["probes"].items():
        assert report["accuracy"] == 0.0, name


def test_few_shot_cases_carry_worked_training_documents_and_score(tok):
    ctx = _text_context(tok, trained_on_tasks=False)
    assert ctx.shots(None) == DEFAULT_SHOTS and ctx.shots(1) == 1 and WORDS.shots(None) == 0
    probe = PROBES["multiturn"]
    single, multi = [probe.cases(s, 1, seed=3, shots=2)[0] for s in probe.settings[:2]]
    assert len(single.shots) == 2 and single.shots == multi.shots  # paired settings share their shots
    assert all(probe.task_module.solve(shot[:-1]) == shot[-1:] for shot in single.shots)  # worked: answer included
    r = TextRenderer(tok).render(single)
    text = tok.decode(r.prompt[1:])
    lines = text.split("\n")
    assert len(lines) == 3 and lines[-1] == " ".join(single.prompt) and lines[0] == " ".join(single.shots[0])
    results = run_suite(TextSolverOracle(tok), EvalConfig(examples=1, regular_docs=0), context=ctx,
                        probes=["mqar", "copy"])
    assert results["config"]["shots"] == DEFAULT_SHOTS
    assert all(report["accuracy"] == 1.0 for report in results["probes"].values())
    with pytest.raises(ValueError, match="few-shot"):
        run_suite(TextSolverOracle(tok), EvalConfig(examples=1, regular_docs=0, shots=1), probes=["copy"])


def test_regular_prompts_of_a_text_run_are_its_heldout_text(tok):
    from tests.eval.scoring.test_scoring import _tiny_lm

    texts = make_texts(20, seed=9)
    ctx = ProbeContext(TextRenderer(tok), heldout_texts=lambda: iter(texts), max_tokens=16)
    docs = ctx.heldout_documents(5)
    assert len(docs) == 5 and all(len(d) <= 17 and d[0] == tok.bos_id for d in docs)
    results = run_suite(_tiny_lm(vocab_size=tok.vocab_size), EvalConfig(examples=1, regular_docs=5), context=ctx,
                        probes=["multihop"])
    regular = results["regular"]
    assert regular["loss"] == regular["text"] and np.isclose(regular["text_perplexity"], np.exp(regular["text"]))
    assert results["config"]["regular_kinds"] == ["heldout_text"]
