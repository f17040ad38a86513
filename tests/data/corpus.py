"""Helpers of the data tests: small corpora in every local format, and a small text DataConfig."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

WORDS = ("alpha", "beta", "gamma", "delta", "linear", "attention", "state", "decay", "token", "model", "recall")


def make_docs(n: int, seed: int = 0, prefix: str = "doc") -> list[str]:
    """n distinct documents of 3..40 words (the index makes each unique)."""
    rng = random.Random(seed)
    return [f"{prefix} {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for i in range(n)]


def write_jsonl(path: Path, docs: list[str], field: str = "text", gz: bool = False) -> Path:
    lines = "".join(json.dumps({field: d, "id": i}) + "\n" for i, d in enumerate(docs))
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        path.write_text(lines, encoding="utf-8")
    return path


def write_parquet(path: Path, docs: list[str], row_group_size: int = 64, **extra_columns) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": docs, **extra_columns}), path, row_group_size=row_group_size)
    return path


def text_cfg(paths, tmp_path: Path, **overrides):
    """A small DataConfig for the text module (tokenizer trained into tmp_path)."""
    from data.config import DataConfig

    values = {"name": "text", "paths": [str(p) for p in paths], "seq_len": 32, "batch_size": 4, "vocab_size": 320,
              "tokenizer_docs": 200, "cache_dir": str(tmp_path / "tok"), "shuffle_buffer": 16, "val_batches": 2,
              "val_fraction": 0.1}
    values.update(overrides)
    return DataConfig(**values)
