"""A fixed word-level vocabulary for the synthetic tasks: deterministic ids, no training, no files, no network.

Every task renders its examples as lists of these tokens, so a probe and the training stream agree on ids by
construction. Token groups (keys, values, variables, numbers) are disjoint ranges, which is what lets MQAR keep keys
and values apart the way Zoology does. The size is padded with reserved tokens to a multiple of 64 so embedding
tables and output heads land on friendly shapes.
"""
from __future__ import annotations

from collections.abc import Sequence

from data.synthetic.filler_words import FILLER_WORDS
from data.synthetic.special_tokens import BOS, EOS, PAD, SPECIAL_TOKENS

PUNCTUATION: tuple[str, ...] = ("=", ";", ":", "?", ".")
TASK_WORDS: tuple[str, ...] = ("set", "update", "what", "is")
"""The few command words of the dialogue task."""
NUMBERS: tuple[str, ...] = tuple(str(i) for i in range(100))
KEYS: tuple[str, ...] = tuple(f"k{i}" for i in range(128))
VALUES: tuple[str, ...] = tuple(f"v{i}" for i in range(128))
VARIABLES: tuple[str, ...] = tuple(f"x{i}" for i in range(64))

PAD_TO_MULTIPLE = 64
"""The vocabulary size is rounded up to a multiple of this with `<|reserved_i|>` tokens."""


def _fixed_tokens() -> list[str]:
    tokens = [
        *SPECIAL_TOKENS, *PUNCTUATION, *TASK_WORDS, *NUMBERS, *KEYS, *VALUES, *VARIABLES, *FILLER_WORDS,
    ]
    n_reserved = -len(tokens) % PAD_TO_MULTIPLE
    tokens += [f"<|reserved_{i}|>" for i in range(n_reserved)]
    return tokens


class Vocab:
    """Word-level tokenizer over the fixed token list: `encode(tokens) -> ids`, `decode(ids) -> tokens`."""

    def __init__(self) -> None:
        self.tokens: tuple[str, ...] = tuple(_fixed_tokens())
        self._ids: dict[str, int] = {tok: i for i, tok in enumerate(self.tokens)}
        if len(self._ids) != len(self.tokens):
            dupes = sorted({t for t in self.tokens if self.tokens.count(t) > 1})
            raise ValueError(f"vocabulary has duplicate tokens: {dupes}")

    @property
    def vocab_size(self) -> int:
        """Number of token ids (a multiple of 64)."""
        return len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    @property
    def pad_id(self) -> int:
        return self._ids[PAD]

    @property
    def bos_id(self) -> int:
        return self._ids[BOS]

    @property
    def eos_id(self) -> int:
        return self._ids[EOS]

    def token_to_id(self, token: str) -> int:
        try:
            return self._ids[token]
        except KeyError:
            raise ValueError(
                f"unknown token {token!r}; the vocabulary has specials, punctuation {' '.join(PUNCTUATION)}, "
                f"k0..k{len(KEYS) - 1}, v0..v{len(VALUES) - 1}, x0..x{len(VARIABLES) - 1}, 0..99 and filler words"
            ) from None

    def id_to_token(self, idx: int) -> str:
        if not 0 <= idx < len(self.tokens):
            raise ValueError(f"token id {idx} is out of range; valid ids are 0..{len(self.tokens) - 1}")
        return self.tokens[idx]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Map tokens to ids; an unknown token raises ValueError naming it."""
        ids = self._ids
        try:
            return [ids[t] for t in tokens]
        except KeyError:
            # Slow path only to name the offending token.
            return [self.token_to_id(t) for t in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Map ids (ints or 0-d tensors) back to tokens; an out-of-range id raises ValueError."""
        return [self.id_to_token(int(i)) for i in ids]


VOCAB = Vocab()
"""The shared instance; the vocabulary is fixed, so one is enough."""
