"""Weighted mixtures of document sources, by tokens: each source gets its weight's share of the packed tokens.

The next document comes from the source that is furthest behind its share (fair queueing: the smallest
tokens_emitted / weight, ties to the first source), so 0.8 / 0.2 means 80% / 20% of tokens however long each
source's documents are, and the choice is deterministic: the mixture's whole state is one token count per source
plus each source's own resume state.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class NoDocuments(ValueError):
    """A shard read a whole epoch of its stream and found no document of its split."""


class DocSource(Protocol):
    """An endless iterator of token-id documents that can say, and return to, where it is."""

    def __next__(self) -> np.ndarray: ...

    def state(self) -> Any: ...

    def load_state(self, state: Any) -> None: ...


class Mixture:
    """Documents from `sources` in token shares `weights` (relative, >= 0, at least one > 0); a packing DocStream."""

    def __init__(self, sources: Sequence[DocSource], weights: Sequence[float]) -> None:
        if len(sources) != len(weights) or not sources:
            raise ValueError(f"need one weight per source, got {len(sources)} sources and {len(weights)} weights")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"mixture weights {list(weights)} must be >= 0 with at least one > 0")
        self.sources = list(sources)
        self.weights = [float(w) for w in weights]
        self.tokens = [0] * len(sources)

    def _pick(self) -> int:
        live = [i for i, w in enumerate(self.weights) if w > 0]
        return min(live, key=lambda i: (self.tokens[i] / self.weights[i], i))

    def next_doc(self) -> tuple[np.ndarray, dict]:
        snap = self.snapshot()
        i = self._pick()
        doc = next(self.sources[i])
        self.tokens[i] += len(doc)
        return doc, snap

    def snapshot(self) -> dict:
        return {"tokens": list(self.tokens), "sources": [s.state() for s in self.sources]}

    def restore(self, snapshot: dict) -> None:
        self.tokens = [int(t) for t in snapshot["tokens"]]
        for source, state in zip(self.sources, snapshot["sources"]):
            source.load_state(state)
