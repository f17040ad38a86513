"""Packing documents into fixed-length rows, remembering where each document starts, and rows into batches.

Rows: documents are laid back to back and cut into rows of seq_len + 1 tokens with a stride of seq_len, so
consecutive rows share one token (a row's last label is the next row's first input): every token is an input once
and a label once, and nothing is dropped. A document cut at a row end continues in the next row.

Batches with boundaries (`make_batch(..., boundaries=True)`):
    cu_seqlens  offsets into the flattened (B * seq_len) inputs where a segment starts, plus B * seq_len: every
                document start and every row start (a document continued from the previous row is a new segment
                there), so neither attention nor a linear state ever crosses a document or a row
    cu_seqlens_host  the same offsets as ints (a tuple; a list once through a DataLoader): the host copy that the
                model's shapes and checks read, so that a step never waits to read cu_seqlens back from the device
    labels      -100 where the next token starts another document: nothing predicts across a boundary
Without boundaries the batch is just input_ids and labels (the next tokens), as a plain causal LM reads it.
With `unscore_continued` (data.loss_on=answers) the labels of a document continued from the previous row are -100
too: its prompt (an MQAR sequence's key-value pairs, a dialogue's earlier turns) lies in that row, out of sight, so
its answers could only be guessed. Plain text keeps them (its next token needs no earlier row).

Resume: the packer's `state()` is (the document stream's snapshot taken just before the document that holds the
next row's first token, the offset of that token in it); `restore` rewinds the stream there and skips the offset,
so the rows that follow are identical.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Protocol

import numpy as np
import torch

IGNORE = -100
"""Label value the loss skips (F.cross_entropy's ignore_index)."""


class DocStream(Protocol):
    """Documents with snapshots: next_doc() -> (ids, snapshot taken just before it); restore(snapshot) rewinds."""

    def next_doc(self) -> tuple[np.ndarray, Any]: ...

    def snapshot(self) -> Any: ...

    def restore(self, snapshot: Any) -> None: ...


class Packer:
    """Rows of seq_len + 1 token ids, stride seq_len, from a DocStream, with a (seq_len + 1,) document-start mask."""

    def __init__(self, seq_len: int, docs: DocStream) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len={seq_len} must be >= 1")
        self.seq_len, self.docs = seq_len, docs
        self._pending: deque[tuple[np.ndarray, Any]] = deque()  # documents holding the next row's tokens
        self._offset = 0  # where the next row starts in _pending[0]

    def state(self) -> dict:
        """Where the next row starts: plain types only (it is saved in checkpoints)."""
        snap = self._pending[0][1] if self._pending else self.docs.snapshot()
        return {"docs": snap, "offset": self._offset}

    def restore(self, state: dict) -> None:
        self.docs.restore(state["docs"])
        self._pending.clear()
        self._offset = int(state["offset"])

    def next_row(self) -> tuple[np.ndarray, np.ndarray]:
        """(seq_len + 1,) ids and a (seq_len + 1,) bool mask that is True where a document starts."""
        width = self.seq_len + 1
        pieces: list[np.ndarray] = []
        starts = np.zeros(width, dtype=bool)
        have, i, offset = 0, 0, self._offset
        while have < width:
            if i == len(self._pending):
                self._pending.append(self.docs.next_doc())
            ids = self._pending[i][0]
            piece = ids[offset : offset + width - have]
            if offset == 0:
                starts[have] = True
            pieces.append(piece)
            have += len(piece)
            i, offset = i + 1, 0
        advance = self._offset + self.seq_len  # keep the boundary token: it is the next row's first input
        while advance >= len(self._pending[0][0]):
            advance -= len(self._pending.popleft()[0])
        self._offset = advance
        return np.concatenate(pieces), starts


def mark_unscored(ids: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Encode "the loss skips this token as a label" in the id itself (-id - 1), so it rides through packing."""
    return np.where(scored, ids, -ids - 1).astype(ids.dtype)


def split_scored(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of mark_unscored: (real ids, bool mask of the scored ones)."""
    scored = ids >= 0
    return torch.where(scored, ids, -ids - 1), scored


def continued(starts: torch.Tensor) -> torch.Tensor:
    """(..., T + 1) document-start masks -> True on the tokens before a row's first document start (the tail of a
    document that began in an earlier row)."""
    return starts.long().cumsum(-1) == 0


def make_batch(rows: list[np.ndarray], starts: list[np.ndarray], boundaries: bool,
               unscore_continued: bool = False) -> dict[str, Any]:
    """B rows of seq_len + 1 ids (and their start masks) -> input_ids, labels (B, seq_len) [+ cu_seqlens and its host
    copy cu_seqlens_host]."""
    ids, scored = split_scored(torch.from_numpy(np.stack(rows).astype(np.int64)))  # (B, T + 1)
    # clone, not contiguous(): with B=1 both slices already count as contiguous, and contiguous() would return views
    # of one buffer, so writing -100 into labels would write it into input_ids too.
    input_ids = ids[:, :-1].clone()  # (B, T)
    labels = ids[:, 1:].clone()  # (B, T)
    labels[~scored[:, 1:]] = IGNORE
    if unscore_continued:
        labels[continued(torch.from_numpy(np.stack(starts)))[:, 1:]] = IGNORE
    if not boundaries:
        return {"input_ids": input_ids, "labels": labels}
    start = np.stack(starts)  # (B, T + 1)
    labels[torch.from_numpy(start[:, 1:])] = IGNORE
    segment = start[:, :-1].copy()  # (B, T)
    segment[:, 0] = True  # every row starts a segment, continued documents included
    B, T = input_ids.shape
    offsets = (*np.flatnonzero(segment).tolist(), B * T)
    return {"input_ids": input_ids, "labels": labels, "cu_seqlens": torch.tensor(offsets, dtype=torch.int32),
            "cu_seqlens_host": offsets}
