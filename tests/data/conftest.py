"""Shared fixtures of the data tests: no network, and a small jsonl corpus written per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# No network is reachable from the test machines; say so before `datasets` / `huggingface_hub` read it at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from tests.data.corpus import make_docs, write_jsonl


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[list[str], list[Path]]:
    """300 documents in 4 jsonl files (75 each)."""
    docs = make_docs(300)
    files = [write_jsonl(tmp_path / f"part{i}.jsonl", docs[75 * i : 75 * (i + 1)]) for i in range(4)]
    return docs, files
