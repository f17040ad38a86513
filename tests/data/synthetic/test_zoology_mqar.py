"""Zoology-format MQAR: every answer is the value bound to the key just read, keys and values from disjoint halves."""
import numpy as np
import pytest
import torch

from data.synthetic.zoology_mqar import zoology_mqar


@pytest.mark.parametrize(("seq_len", "pairs"), [(64, 4), (128, 8), (512, 64), (30, 7)])
def test_answers_are_the_values_bound_to_the_queried_keys(seq_len: int, pairs: int) -> None:
    seed = int(np.random.default_rng().integers(1 << 30))
    vocab = 1024
    x, y = zoology_mqar(50, vocab, seq_len, pairs, seed=seed)
    assert x.shape == y.shape == (50, seq_len) and x.dtype == y.dtype == torch.int64
    half, ctx = vocab // 2, 2 * pairs
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        keys, vals = row_x[0:ctx:2], row_x[1:ctx:2]
        assert len(set(keys)) == pairs and all(1 <= k < half for k in keys), seed
        assert len(set(vals)) == pairs and all(half <= v < vocab for v in vals), seed
        table = dict(zip(keys, vals))
        answers = [(t, lab) for t, lab in enumerate(row_y) if lab != -100]
        assert len(answers) == pairs, seed  # every key is queried exactly once
        assert all(t >= ctx and table[row_x[t]] == lab for t, lab in answers), seed
        assert sorted(row_x[t] for t, _ in answers) == sorted(keys), seed


def test_gaps_follow_a_power_law_favouring_short_recalls() -> None:
    x, y = zoology_mqar(400, 1024, 256, 4, seed=0)
    pos = (y != -100).nonzero()[:, 1] - 8  # offset of each answer in the query section
    assert pos.float().median() < (256 - 8) / 4  # uniform slots would put the median near the middle


def test_fill_tokens_are_zero_or_random() -> None:
    x0, _ = zoology_mqar(20, 1024, 64, 4, seed=3, random_fill=False)
    x1, _ = zoology_mqar(20, 1024, 64, 4, seed=3)
    assert (x0[:, 8:] == 0).float().mean() > 0.8
    assert (x1[:, 8:] == 0).float().mean() < 0.05
    assert torch.equal(x0[x0 != 0], x1[x0 != 0])  # the fill replaces only the zeros


@pytest.mark.parametrize(("vocab", "seq_len", "pairs", "what"), [(1024, 63, 4, "seq_len"), (1024, 64, 17, "seq_len"),
                                                                 (64, 64, 4, "vocab")])
def test_bad_settings_name_what_is_wrong(vocab: int, seq_len: int, pairs: int, what: str) -> None:
    with pytest.raises(ValueError, match=what):
        zoology_mqar(2, vocab, seq_len, pairs, seed=0)
