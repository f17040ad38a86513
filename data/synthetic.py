"""The synthetic training stream: task documents drawn by mixture weight, packed back to back into fixed rows.

Each document is "<|bos|> prompt answer <|eos|>" from one task generator at that task's TRAIN_AXES. Documents are
concatenated and cut into rows of seq_len + 1 tokens with a stride of seq_len, so consecutive rows share one boundary
token: every token is an input exactly once and a label exactly once, a document that does not fit continues in the
next row, and nothing is dropped (data/packing.py). With `boundaries` the rows also carry where documents start,
from which a batch gets its cu_seqlens.

Every (split, seed, rank, worker) gets its own random.Random seeded with a string that spells all four out, so the
streams are reproducible across processes and machines and no two shards ever share a seed (Python seeds a string
injectively). The "val" split uses the same construction with another prefix, hence seeds disjoint from training.
A shard's whole resume state is its generator's state (`SyntheticDocs.state`) plus the packer's offset.
"""
from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from data.mixture import Mixture
from data.packing import IGNORE, Packer, continued, mark_unscored, split_scored
from data.tasks import TASKS, sample_axes
from data.vocab import VOCAB, Vocab

SPLITS = ("train", "val")


def current_rank() -> int:
    """This process's global rank: torch.distributed if initialised, else env RANK, else 0."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def current_world_size() -> int:
    """Number of ranks: torch.distributed if initialised, else env WORLD_SIZE, else 1."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_mixture(mixture: Mapping[str, float]) -> dict[str, float]:
    """The tasks with a positive weight; unknown tasks, negative weights or no positive one raise ValueError."""
    for name, weight in mixture.items():
        if name not in TASKS:
            raise ValueError(f"mixture task {name!r} is unknown; valid: {', '.join(sorted(TASKS))}")
        if weight < 0:
            raise ValueError(f"mixture weight {name}={weight} must be >= 0")
    if sum(mixture.values()) <= 0:
        raise ValueError(f"mixture {dict(mixture)} needs at least one positive weight")
    return {str(name): float(w) for name, w in mixture.items() if w > 0}


def draw_example_tokens(rng: random.Random, names: list[str], weights: list[float]) -> list[str]:
    """One training document body (vocabulary tokens): a task drawn by weight, made at its TRAIN_AXES."""
    task = TASKS[rng.choices(names, weights)[0]]
    return task.make(rng, **sample_axes(task.TRAIN_AXES, rng)).tokens


def draw_scored_example(rng: random.Random, names: list[str], weights: list[float]) -> tuple[list[str], list[bool]]:
    """Like draw_example_tokens, plus which tokens are scored when only answers are: the answer of each task
    (every answered query of an MQAR sequence, as Zoology scores it); filler text is scored everywhere."""
    name = rng.choices(names, weights)[0]
    task = TASKS[name]
    axes = sample_axes(task.TRAIN_AXES, rng)
    if hasattr(task, "make_sequence"):
        tokens, mask = task.make_sequence(rng, **axes)
        return list(tokens), [bool(m) for m in mask]
    ex = task.make(rng, **axes)
    if not ex.answer:  # plain text: the regular-prompt loss
        return ex.tokens, [True] * len(ex.tokens)
    return ex.tokens, [False] * len(ex.prompt) + [True] * len(ex.answer)


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


class SyntheticStream(IterableDataset):
    """Infinite, seeded stream of packed rows {"input_ids": (seq_len,), "labels": (seq_len,)} of dtype int64.

    `rank=None` reads the rank when iteration starts; pass it explicitly when iterating in a process where
    torch.distributed is not initialised (DataLoader workers of a spawn-started DDP rank), as the DataModule does.
    """

    def __init__(
        self,
        seq_len: int,
        mixture: Mapping[str, float],
        seed: int = 0,
        split: str = "train",
        rank: int | None = None,
        vocab: Vocab = VOCAB,
        answers_only: bool = False,
    ) -> None:
        super().__init__()
        self.answers_only = answers_only
        if seq_len < 1:
            raise ValueError(f"seq_len={seq_len} must be >= 1")
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is unknown; valid: {', '.join(SPLITS)}")
        self.seq_len = seq_len
        self.mixture = check_mixture(mixture)
        self.seed = seed
        self.split = split
        self.rank = rank
        self.vocab = vocab

    @staticmethod
    def stream_key_for(split: str, seed: int, rank: int, worker: int) -> str:
        """The string that seeds a shard; distinct (split, seed, rank, worker) give distinct strings, hence seeds."""
        return f"synthetic/{split}/seed={seed}/rank={rank}/worker={worker}"

    def stream_key(self, rank: int, worker: int) -> str:
        """The string that seeds this stream's shard (rank, worker)."""
        return self.stream_key_for(self.split, self.seed, rank, worker)

    def documents(self, rng: random.Random) -> Iterator[list[int]]:
        """Endless token-id documents "<|bos|> prompt answer <|eos|>", tasks drawn by mixture weight."""
        names, weights = list(self.mixture), list(self.mixture.values())
        encode = vocab_encoder(self.vocab)
        while True:
            yield encode(draw_example_tokens(rng, names, weights)).tolist()

    def docs(self, rank: int = 0, worker: int = 0) -> SyntheticDocs:
        """The resumable document source of the shard (rank, worker): the same documents as `documents`."""
        return SyntheticDocs(self.mixture, self.stream_key(rank, worker), vocab_encoder(self.vocab), self.answers_only)

    def rows(self, rank: int = 0, worker: int = 0, boundaries: bool = False) -> Iterator[dict[str, torch.Tensor]]:
        """Endless packed rows of the shard (rank, worker); with `boundaries` also "starts" (seq_len + 1,) bool."""
        packer = Packer(self.seq_len, Mixture([self.docs(rank, worker)], [1.0]))
        while True:
            ids, starts = packer.next_row()
            row, scored = split_scored(torch.from_numpy(ids.astype(np.int64)))  # (seq_len + 1,)
            if self.answers_only:  # the tail of a document begun in the previous row: its prompt is out of sight
                scored = scored & ~continued(torch.from_numpy(starts))
            out = {"input_ids": row[:-1], "labels": torch.where(scored[1:], row[1:], IGNORE)}
            if boundaries:
                out["starts"] = torch.from_numpy(starts)
            yield out

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        rank = self.rank if self.rank is not None else current_rank()
        return self.rows(rank=rank, worker=worker)
