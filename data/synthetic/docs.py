"""Endless synthetic documents of one shard as framed token ids, resumable: the state is the generator's state.

Every (split, seed, rank, worker) shard seeds its own random.Random with a string that spells all four out
(SyntheticStream.stream_key_for), so the documents are reproducible across processes and machines and no two shards
share a seed (Python seeds a string injectively).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import numpy as np

from data.packing import mark_unscored
from data.synthetic.task_mixture import check_mixture, draw_example_tokens, draw_scored_example
from data.synthetic.vocab import Vocab


def vocab_encoder(vocab: Vocab) -> Callable[[list[str]], np.ndarray]:
    """Encoder of a document body to "<|bos|> body <|eos|>" ids of the word-level vocabulary."""

    def encode(words: list[str]) -> np.ndarray:
        return np.array([vocab.bos_id, *vocab.encode(words), vocab.eos_id], dtype=np.int32)

    return encode


class SyntheticDocs:
    """Endless synthetic documents of one shard as id arrays, resumable: its state is its generator's state.

    `encode` maps a document body (vocabulary tokens) to framed ids: the word-level vocabulary (the synthetic
    module) or a text tokenizer (synthetic tasks mixed into text).
    """

    def __init__(self, mixture: Mapping[str, float], key: str, encode: Callable[[list[str]], np.ndarray],
                 answers_only: bool = False) -> None:
        self.mixture = check_mixture(mixture)
        self.rng = random.Random(key)
        self.encode = encode
        self.answers_only = answers_only

    def __iter__(self) -> SyntheticDocs:
        return self

    def __next__(self) -> np.ndarray:
        names, weights = list(self.mixture), list(self.mixture.values())
        if not self.answers_only:
            return self.encode(draw_example_tokens(self.rng, names, weights))
        tokens, mask = draw_scored_example(self.rng, names, weights)
        ids = self.encode(tokens)
        if len(ids) != len(tokens) + 2:
            raise ValueError("data.loss_on=answers needs the word-level vocabulary (one id per task token); "
                             "use data.loss_on=all when synthetic tasks are mixed into text")
        # <|bos|> is never a label; the answer's <|eos|> is.
        return mark_unscored(ids, np.array([False, *mask, True]))

    def state(self) -> dict:
        """The generator's state as plain lists (checkpoints load with torch.load(weights_only=True))."""
        version, internal, gauss = self.rng.getstate()
        return {"rng": [version, list(internal), gauss]}

    def load_state(self, state: dict) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
