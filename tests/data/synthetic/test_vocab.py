"""The fixed vocabulary: stable ids, lossless round trip, clear errors."""
from __future__ import annotations

import pytest

from data.synthetic.filler_words import FILLER_WORDS
from data.synthetic.special_tokens import BOS, EOS, PAD, SPECIAL_TOKENS
from data.synthetic.vocab import KEYS, NUMBERS, PUNCTUATION, TASK_WORDS, VALUES, VARIABLES, VOCAB, Vocab


def test_size_is_fixed_and_a_multiple_of_64():
    assert VOCAB.vocab_size == len(VOCAB) == 768
    assert VOCAB.vocab_size % 64 == 0


def test_ids_are_stable_across_instances():
    # Checkpoints depend on these ids: a reorder must be a deliberate, visible change.
    assert Vocab().tokens == VOCAB.tokens
    assert (VOCAB.pad_id, VOCAB.bos_id, VOCAB.eos_id) == (0, 1, 2)
    assert VOCAB.token_to_id(PAD) == 0 and VOCAB.token_to_id(BOS) == 1 and VOCAB.token_to_id(EOS) == 2
    assert VOCAB.token_to_id("k0") + 127 == VOCAB.token_to_id("k127")


def test_every_group_is_present_and_tokens_are_unique():
    for group in (SPECIAL_TOKENS, PUNCTUATION, TASK_WORDS, NUMBERS, KEYS, VALUES, VARIABLES, FILLER_WORDS):
        assert all(tok in VOCAB for tok in group)
    assert len(set(VOCAB.tokens)) == len(VOCAB.tokens)
    assert len(KEYS) == len(VALUES) == 128 and len(VARIABLES) == 64 and len(NUMBERS) == 100
    assert len(FILLER_WORDS) >= 200


def test_encode_decode_round_trip():
    tokens = [BOS, "k3", "v7", "x12", "42", "=", ";", "the", "dog", EOS]
    ids = VOCAB.encode(tokens)
    assert all(isinstance(i, int) for i in ids)
    assert VOCAB.decode(ids) == tokens
    assert VOCAB.decode(VOCAB.encode(list(VOCAB.tokens))) == list(VOCAB.tokens)
    assert VOCAB.encode(VOCAB.decode(range(VOCAB.vocab_size))) == list(range(VOCAB.vocab_size))


def test_unknown_token_is_named():
    with pytest.raises(ValueError, match="'zebra42'"):
        VOCAB.encode(["k3", "zebra42"])


def test_out_of_range_id_is_named():
    with pytest.raises(ValueError, match="768"):
        VOCAB.decode([5, 768])
    with pytest.raises(ValueError, match="-1"):
        VOCAB.decode([-1])
