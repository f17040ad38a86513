"""Local text files: expand data.paths (files, folders, globs) into a sorted file list and name their one format.

Formats are told by extension: .jsonl / .json (one JSON object per line), .parquet, .txt, each optionally .gz
(parquet compresses internally). One run reads one format, because each is read by a different `datasets` builder
and yields a different record; mixing them is a one-line error rather than a silent choice.
"""
from __future__ import annotations

import glob
from pathlib import Path

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".txt": "txt",
}
"""File extension -> the format it is read as."""
COMPRESSIONS = (".gz",)
"""Compression suffixes `datasets` decompresses while streaming (not for parquet)."""


def file_format(path: str) -> str:
    """'jsonl' | 'parquet' | 'txt' from the extension (a trailing .gz is looked through); else ValueError."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (fmt == "parquet" and p.suffix.lower() in COMPRESSIONS):
        valid = ", ".join(sorted(FORMATS)) + " (each but .parquet optionally .gz)"
        raise ValueError(f"data.paths: {path!r} has an unknown extension; valid: {valid}")
    return fmt


def _readable(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    return path.is_file() and bool(suffixes) and suffixes[-1] in FORMATS and not path.name.startswith(".")


def resolve_paths(patterns: list[str]) -> list[str]:
    """Expand files, folders (every readable file below) and globs (** recurses) into sorted absolute paths.

    A pattern that matches nothing raises ValueError naming it, so a typo never silently trains on less data.
    """
    if not patterns:
        raise ValueError("data.paths is empty; pass files, folders or globs, e.g. data.paths=[corpus/*.jsonl]")
    files: list[str] = []
    for pattern in patterns:
        expanded = str(Path(pattern).expanduser())
        if glob.has_magic(expanded):
            hits = [Path(h) for h in glob.glob(expanded, recursive=True)]
            found = [h for h in hits if h.is_file()]
        elif Path(expanded).is_dir():
            found = [h for h in Path(expanded).rglob("*") if _readable(h)]
        elif Path(expanded).is_file():
            found = [Path(expanded)]
        else:
            raise ValueError(f"data.paths: {pattern!r} does not exist")
        if not found:
            raise ValueError(f"data.paths: {pattern!r} matches no readable file")
        files += [str(h.resolve()) for h in found]
    return sorted(set(files))


def common_format(files: list[str]) -> str:
    """The one format of `files`; mixed formats raise ValueError listing which file has which."""
    formats = {f: file_format(f) for f in files}
    kinds = sorted(set(formats.values()))
    if len(kinds) > 1:
        first = {kind: next(f for f, k in formats.items() if k == kind) for kind in kinds}
        examples = ", ".join(f"{Path(first[kind]).name} ({kind})" for kind in kinds)
        raise ValueError(f"data.paths mixes formats: {examples}; read one format per run (convert the others)")
    return kinds[0]
