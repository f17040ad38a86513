"""DataConfig: what the training and validation data are, one documented field each (litgpt style).

Types stay OmegaConf-structured-config friendly (plain scalars, Optional, List[str], Dict[str, float]) so a typo in
a recipe or an override is caught when the run config is composed, before any data is read or generated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional  # noqa: UP035 -- typing generics, as the structured-config convention asks


LOSS_ON = ("answers", "all")


def _default_mixture() -> dict[str, float]:
    return {"mqar": 0.3, "multiturn": 0.3, "multihop": 0.2, "filler": 0.2}


@dataclass
class DataConfig:
    """Training and validation data for a run."""

    name: str = "synthetic"
    """Which data module: synthetic (embedded seeded task generators, no network) | text (Hub or local files)."""
    seq_len: int = 512
    """Tokens per training row (the model's context length during training)."""
    batch_size: int = 16
    """Rows per micro-batch per device (an optimizer step takes devices x trainer.accumulate micro-batches)."""
    num_workers: int = 0
    """DataLoader worker processes per device (0 reads in the training process); a resume needs the same count."""
    seed: int = 0
    """Seed of the data stream; each (rank, worker) derives its own stream from it."""
    mixture: Dict[str, float] = field(default_factory=_default_mixture)  # noqa: UP006
    """Task name -> sampling weight (relative, per document) in the synthetic task mixture."""
    loss_on: str = "all"
    """Synthetic tasks: all (every token scored, like plain text) | answers (only answer tokens, as Zoology trains
    MQAR; filler text stays fully scored — the probes' regular-prompt loss then covers untrained prompt tokens)."""
    val_batches: int = 8
    """Batches in the fixed validation set (the same rows every validation run)."""
    pack_boundaries: Optional[bool] = None  # noqa: UP045
    """Send cu_seqlens so attention and linear state restart at each document; null: on for text, off for synthetic."""
    hub: Optional[str] = None  # noqa: UP045
    """Hugging Face Hub dataset streamed as the text, e.g. HuggingFaceFW/fineweb-edu (null: read data.paths)."""
    hub_config: Optional[str] = None  # noqa: UP045
    """Config (subset) of the Hub dataset, e.g. sample-10BT."""
    split: str = "train"
    """Split of the Hub dataset to stream."""
    paths: List[str] = field(default_factory=list)  # noqa: UP006
    """Local files, folders or globs of text: .jsonl / .json (one object per line), .parquet, .txt; .gz allowed."""
    text_field: str = "text"
    """Field that holds a document's text in JSON lines, parquet files and Hub rows."""
    txt_unit: str = "paragraph"
    """What one document of a .txt file is: line | paragraph (blank-line separated) | document (the whole file)."""
    tokenizer: str = "train"
    """Tokenizer of the text: a tokenizer.json path (or its folder) | a Hub tokenizer name | train (byte-level BPE)."""
    vocab_size: int = 32768
    """Token ids of a trained tokenizer, special tokens included (data.tokenizer=train)."""
    tokenizer_docs: int = 10000
    """Documents from the start of the text that data.tokenizer=train learns from."""
    cache_dir: str = "~/.cache/hybrid/tokenizers"
    """Where trained tokenizers are kept, one file per hash of (sources, tokenizer_docs, vocab_size)."""
    synthetic_weight: float = 0.0
    """Share of the text module's training tokens drawn from the synthetic tasks of data.mixture, in [0, 1)."""
    shuffle_buffer: int = 1000
    """Documents per seeded shuffle block of the text stream (1 keeps the files' order)."""
    val_fraction: float = 0.01
    """Share of text documents held out for validation, picked by a hash of their text (never trained on)."""
    max_bad_lines: int = 100
    """Malformed JSON lines one data worker skips, each with a warning, before it stops the run."""
