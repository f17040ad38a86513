"""Where text documents come from: a Hub dataset or local files, opened with `datasets.load_dataset(streaming=True)`.

`TextSource` is a small picklable description (it travels to DataLoader workers) that knows how to open the stream
and how to turn its rows into document strings:
    jsonl  read line by line with the `text` builder and parsed here, so one malformed line is counted and skipped
           (the `json` builder would fail the whole file); a record without `text_field` names the fields it has
    txt    the `text` builder, one document per line | paragraph | document (data.txt_unit)
    parquet and Hub datasets   the column `text_field`, checked against the schema before anything is read
Empty (or whitespace-only) documents are skipped everywhere. Which documents are validation is decided by a hash of
their text, so the held-out set is the same whatever the sharding and never reaches training.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.text.files import common_format, resolve_paths

SPLITS = ("train", "val")
TXT_UNITS = ("line", "paragraph", "document")


class BadLines:
    """Counts malformed JSON lines of one reader; warns on each, raises ValueError past `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def add(self, line: str, reason: str) -> None:
        self.count += 1
        snippet = line[:80] + ("..." if len(line) > 80 else "")
        if self.count > self.limit:
            raise ValueError(f"{self.count} malformed JSON lines, more than data.max_bad_lines={self.limit} "
                             f"(last: {snippet!r}: {reason}); JSON files need one object per line; fix the files "
                             "or raise data.max_bad_lines")
        warnings.warn(f"skipping malformed JSON line {snippet!r} ({reason}); {self.count} so far, "
                      f"limit data.max_bad_lines={self.limit}", stacklevel=2)


@dataclass(frozen=True)
class TextSource:
    """A stream of documents: `hub` (with `hub_config`, `hub_split`) or local `files` of one `fmt`."""

    text_field: str = "text"
    hub: str | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    files: tuple[str, ...] = ()
    fmt: str = ""
    txt_unit: str = "paragraph"
    val_fraction: float = 0.01
    max_bad_lines: int = 100

    @classmethod
    def from_config(cls, cfg: Any) -> TextSource:
        """Build from a DataConfig; checks the choice of source, paths, formats and ranges (ValueError)."""
        hub, paths = cfg.hub, list(cfg.paths)
        if hub and paths:
            raise ValueError(f"set data.hub={hub!r} or data.paths={paths}, not both")
        if not hub and not paths:
            raise ValueError("data.name=text needs data.paths=[files, folders or globs] or data.hub=<dataset name>")
        if cfg.txt_unit not in TXT_UNITS:
            raise ValueError(f"data.txt_unit={cfg.txt_unit!r} is unknown; valid: {', '.join(TXT_UNITS)}")
        if not 0.0 <= cfg.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction={cfg.val_fraction} must be in [0, 1)")
        if cfg.max_bad_lines < 0:
            raise ValueError(f"data.max_bad_lines={cfg.max_bad_lines} must be >= 0")
        common = {"text_field": cfg.text_field, "txt_unit": cfg.txt_unit, "val_fraction": float(cfg.val_fraction),
                  "max_bad_lines": cfg.max_bad_lines}
        if hub:
            return cls(hub=hub, hub_config=cfg.hub_config, hub_split=cfg.split, fmt="hub", **common)
        files = resolve_paths(paths)
        return cls(files=tuple(files), fmt=common_format(files), **common)

    def key(self) -> str:
        """Identity of the documents this source yields (for caches): names, and size + mtime of local files."""
        if self.hub:
            what = f"hub:{self.hub}:{self.hub_config}:{self.hub_split}"
        else:
            stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in self.files]
            what = f"files:{self.fmt}:{self.txt_unit}:{stats}"
        return f"{what}|field={self.text_field}|val={self.val_fraction}"

    def describe(self) -> str:
        if self.hub:
            return f"{self.hub} ({self.hub_config or 'default'}, {self.hub_split})"
        return f"{len(self.files)} {self.fmt} file{'s' * (len(self.files) != 1)}"

    # -- opening -------------------------------------------------------------------------------------------------

    def files_for_epoch(self, epoch: int, seed: int) -> list[str]:
        """Local files in sorted order for epoch 0, then a seeded permutation per epoch (shards see new files)."""
        files = list(self.files)
        if epoch > 0:
            random.Random(f"files/seed={seed}/epoch={epoch}").shuffle(files)
        return files

    def open(self, epoch: int = 0, seed: int = 0):
        """The unsharded `datasets.IterableDataset` of this epoch; unreachable Hub sources raise ValueError."""
        import datasets

        if self.hub:
            return self._open_hub(datasets)
        files = self.files_for_epoch(epoch, seed)
        if self.fmt == "parquet":
            ds = datasets.load_dataset("parquet", data_files=files, split="train", streaming=True)
            self._check_column(ds.features, f"{Path(files[0]).name}")
            return ds.select_columns([self.text_field])
        # jsonl and txt both stream as lines of text; jsonl lines are parsed in `texts`.
        sample_by = "line" if self.fmt == "jsonl" else self.txt_unit
        return datasets.load_dataset("text", data_files=files, split="train", streaming=True, sample_by=sample_by)

    def _open_hub(self, datasets):
        try:
            ds = datasets.load_dataset(self.hub, name=self.hub_config, split=self.hub_split, streaming=True)
        except (ConnectionError, TimeoutError) as e:
            raise ValueError(
                f"data.hub={self.hub!r} cannot be reached on the Hugging Face Hub ({_first_line(e)}); without "
                "network, download its files and use data=files data.paths=[...]") from None
        except (OSError, ValueError) as e:
            offline = "offline" in str(e).lower() or "connection" in str(e).lower()
            hint = ("; without network, download its files and use data=files data.paths=[...]" if offline
                    else "; check data.hub, data.hub_config and data.split")
            raise ValueError(f"data.hub={self.hub!r} could not be opened ({_first_line(e)}){hint}") from None
        self._check_column(ds.features, self.hub)
        return ds.select_columns([self.text_field]) if ds.features is not None else ds

    def _check_column(self, features, where: str) -> None:
        if features is not None and self.text_field not in features:
            raise ValueError(f"data.text_field={self.text_field!r} is not a column of {where}; "
                             f"its columns: {', '.join(features)}")

    # -- rows -> documents ---------------------------------------------------------------------------------------

    def texts(self, column: list, bad: BadLines) -> list[str]:
        """Document strings from one batch of rows' column (`text` for lines, `text_field` otherwise)."""
        out: list[str] = []
        if self.fmt == "jsonl":
            for line in column:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    bad.add(line, f"{e.msg} at column {e.colno}")
                    continue
                if not isinstance(record, dict):
                    bad.add(line, f"a JSON {type(record).__name__}, not an object")
                    continue
                if self.text_field not in record:
                    raise ValueError(f"a JSON record has no field data.text_field={self.text_field!r}; "
                                     f"its fields: {', '.join(record) or '(none)'}")
                text = record[self.text_field]
                if text is None:
                    continue
                if not isinstance(text, str):
                    bad.add(line, f"field {self.text_field!r} holds a {type(text).__name__}, not text")
                    continue
                out.append(text)
        else:
            for text in column:
                if text is None and self.fmt != "txt":
                    continue
                if not isinstance(text, str):  # a config mistake (wrong column), reported like the others
                    raise ValueError(  # noqa: TRY004
                        f"data.text_field={self.text_field!r} holds {type(text).__name__} values, not text; "
                        "pick a text column")
                out.append(text)
        return [t for t in out if t.strip()]

    def column(self, rows: dict[str, list]) -> list:
        """The column of a batch of rows that holds the documents (checked: a Hub schema may be unknown upfront)."""
        name = "text" if self.fmt in ("jsonl", "txt") else self.text_field
        if name not in rows:
            raise ValueError(f"data.text_field={name!r} is not a field of {self.describe()}; "
                             f"its fields: {', '.join(rows)}")
        return rows[name]

    def in_split(self, text: str, split: str) -> bool:
        """True if `text` belongs to `split`: validation iff its hash falls in the first val_fraction of the range."""
        h = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        return (h < self.val_fraction * 2**64) == (split == "val")

    def iter_texts(self, split: str = "train", block: int = 256) -> Iterator[str]:
        """Documents of `split` in stream order, unsharded and unshuffled (probing, tokenizer training)."""
        bad = BadLines(self.max_bad_lines)
        for rows in self.open().iter(batch_size=block):
            for text in self.texts(self.column(rows), bad):
                if self.in_split(text, split):
                    yield text


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
