"""Text tokenizers (HF `tokenizers`) that share the project's special tokens, and training + caching of a BPE.

`data.tokenizer` is one of
    a path to a tokenizer.json (or a folder holding one)
    a Hugging Face Hub tokenizer name (e.g. gpt2), fetched and cached the usual way; offline it fails clearly
    train: a byte-level BPE of `vocab_size` ids learnt from the first N documents of the text, cached on disk under
           a hash of (source identity, N, vocab size), so a second run, or every DDP rank, reuses one file.
Every tokenizer gets the special tokens of data/synthetic/special_tokens.py (a trained one at ids 0..7 in that order,
a loaded one appended if missing), so the synthetic tasks' <|query|>, <|user|>, ... mean the same under any of them.
Documents are framed <|bos|> text <|eos|>, as the synthetic stream frames its documents.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from data.synthetic.special_tokens import BOS, EOS, PAD, SPECIAL_TOKENS

TRAIN = "train"
BYTE_ALPHABET = 256
CACHE_FORMAT = 1
"""Bump when the trained tokenizer changes for the same inputs, so stale cache files are not reused."""


class TextTokenizer:
    """A `tokenizers.Tokenizer` with the special tokens registered; picklable (it travels to DataLoader workers)."""

    def __init__(self, tokenizer: Tokenizer, name: str = "") -> None:
        missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            tokenizer.add_special_tokens(missing)
        self.tokenizer = tokenizer
        self.name = name
        self.bos_id: int = tokenizer.token_to_id(BOS)
        self.eos_id: int = tokenizer.token_to_id(EOS)
        self.pad_id: int = tokenizer.token_to_id(PAD)

    @property
    def vocab_size(self) -> int:
        """Number of token ids, added tokens included: the model must embed at least this many."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def encode_docs(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each document framed <|bos|> ... <|eos|>, as int32 arrays."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [np.array([self.bos_id, *e.ids, self.eos_id], dtype=np.int32) for e in encodings]

    def encode_words(self, words: list[str]) -> np.ndarray:
        """A synthetic task document (vocabulary tokens) as text ids: the words joined by spaces, framed."""
        return self.encode_docs([" ".join(words)])[0]

    def to_json(self) -> str:
        """The whole tokenizer as tokenizer.json text (what a checkpoint keeps, so probes read the run's own ids)."""
        return self.tokenizer.to_str()

    @classmethod
    def from_json(cls, text: str, name: str = "") -> TextTokenizer:
        return cls(Tokenizer.from_str(text), name=name)


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE with `vocab_size` ids (fewer if the texts run out of merges); specials take ids 0..7."""
    floor = BYTE_ALPHABET + len(SPECIAL_TOKENS)
    if vocab_size < floor:
        raise ValueError(f"data.vocab_size={vocab_size} must be >= {floor} (256 byte tokens + "
                         f"{len(SPECIAL_TOKENS)} special tokens)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def cache_path(cache_dir: str, source_key: str, n_docs: int, vocab_size: int) -> Path:
    """The file a trained tokenizer is kept in: a hash of what it was trained on and how."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{source_key}|{n_docs}|{vocab_size}".encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / f"bpe-{vocab_size}-{digest}.json"


def trained_tokenizer(texts: Iterable[str], source_key: str, n_docs: int, vocab_size: int, cache_dir: str,
                      log=print) -> TextTokenizer:
    """The cached BPE for (source_key, n_docs, vocab_size), training it on the first n_docs of `texts` if new.

    A file lock makes concurrent processes (DDP ranks) train once and the others read the file.
    """
    from filelock import FileLock

    if n_docs < 1:
        raise ValueError(f"data.tokenizer_docs={n_docs} must be >= 1")
    path = cache_path(cache_dir, source_key, n_docs, vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            log(f"data: reusing the trained tokenizer {path}")
            return TextTokenizer(Tokenizer.from_file(str(path)), name=str(path))
        start = time.perf_counter()
        docs = list(islice(texts, n_docs))
        if not docs:
            raise ValueError("data.tokenizer=train found no training document in the text")
        tok = train_bpe(docs, vocab_size)
        tmp = path.with_suffix(".json.tmp")
        tok.save(str(tmp))
        tmp.replace(path)  # atomic: a reader never sees half a file
        log(f"data: trained a {tok.get_vocab_size()}-id BPE on {len(docs)} documents in "
            f"{time.perf_counter() - start:.1f} s -> {path}")
    return TextTokenizer(tok, name=str(path))


def load_tokenizer(spec: str) -> TextTokenizer:
    """A tokenizer.json file, a folder with one, or a Hub tokenizer name (ValueError naming what failed)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
        if not path.is_file():
            raise ValueError(f"data.tokenizer={spec!r} is a folder without a tokenizer.json")
    if path.is_file():
        try:
            return TextTokenizer(Tokenizer.from_file(str(path)), name=str(path))
        except Exception as e:  # noqa: BLE001 -- tokenizers raises a bare Exception on a bad file
            raise ValueError(f"data.tokenizer={spec!r} is not a tokenizers JSON file ({e})") from None
    if spec.endswith(".json") or spec.startswith((".", "/", "~")):
        raise ValueError(f"data.tokenizer={spec!r} does not exist (a path, a Hub tokenizer name, or train)")
    try:
        return TextTokenizer(Tokenizer.from_pretrained(spec), name=spec)
    except Exception as e:  # noqa: BLE001 -- offline, unknown repo, no tokenizer.json: all end here
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"data.tokenizer={spec!r} is not a local file and could not be fetched from the Hugging "
                         f"Face Hub ({type(e).__name__}: {first}); offline, pass a tokenizer.json path or "
                         "data.tokenizer=train") from None
