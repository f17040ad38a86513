"""Packed sequences (`cu_seqlens`) to a zero-padded batch and back, for the PyTorch paths.

FLA packs N documents into one row, (1, T, ...) with boundaries cu_seqlens = [0, ..., T]. The PyTorch paths run the
documents side by side instead: (N, L, ...), L the longest document, zero-padded at each document's end. Zero padding
is inert: k = 0, beta = 0 and g = 0 leave the state untouched, so each row's final state is its document's, and no
row can see another.
"""
from __future__ import annotations

import torch


class PackedLayout:
    """Index maps between the packed (1, T, ...) layout and the padded (N, L, ...) one."""

    def __init__(self, cu_seqlens: torch.Tensor) -> None:
        cu = cu_seqlens.long()
        lengths = cu.diff()  # (N,)
        self.num_seqs = lengths.numel()
        self.max_len = int(lengths.max())
        pos = torch.arange(self.max_len, device=cu.device)
        self.valid = pos[None, :] < lengths[:, None]  # (N, L)
        self.gather_index = torch.where(self.valid, cu[:-1, None] + pos[None, :], 0)  # (N, L) -> packed position
        seq_of_token = torch.repeat_interleave(torch.arange(self.num_seqs, device=cu.device), lengths)  # (T,)
        self.scatter_index = (seq_of_token, torch.arange(int(cu[-1]), device=cu.device) - cu[seq_of_token])

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(1, T, ...) -> (N, L, ...), zeros past each sequence's end."""
        rows = x[0][self.gather_index]  # (N, L, ...)
        mask = self.valid.view(*self.valid.shape, *([1] * (rows.dim() - 2)))
        return torch.where(mask, rows, torch.zeros((), dtype=rows.dtype, device=rows.device))

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, ...) -> (1, T, ...)."""
        return x[self.scatter_index].unsqueeze(0)
