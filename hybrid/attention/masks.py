"""Which keys each query may see: causal, sliding window, and block-diagonal over packed documents.

Queries are always the last Tq of the Tk keys (a training forward has Tq == Tk; a decode step appends Tq new tokens to
Tk - Tq cached ones), so query i sits at key index i + Tk - Tq: the masks are aligned bottom-right.
"""

from __future__ import annotations

import torch


def document_ids(cu_seqlens: torch.Tensor, total: int) -> torch.Tensor:
    """(total,) index of the document each token belongs to; cu_seqlens = [0, end_0, end_1, ..., total]."""
    tokens = torch.arange(total, device=cu_seqlens.device)
    return torch.searchsorted(cu_seqlens[1:].to(tokens.dtype), tokens, right=True)


def allowed_keys(
    tq: int,
    tk: int,
    window: int | None = None,
    cu_seqlens: torch.Tensor | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """(tq, tk) bool, True where query i may attend key j: causal, within `window` (incl. itself), same document."""
    q_pos = torch.arange(tk - tq, tk, device=device)
    k_pos = torch.arange(tk, device=device)
    offset = q_pos[:, None] - k_pos[None, :]  # (tq, tk) how far back the key is
    ok = offset >= 0
    if window is not None:
        ok = ok & (offset < window)
    if cu_seqlens is not None:
        if tq != tk:
            raise ValueError(f"cu_seqlens needs queries == keys (no cache); got tq={tq}, tk={tk}")
        doc = document_ids(cu_seqlens.to(device), tk)
        ok = ok & (doc[:, None] == doc[None, :])
    return ok


def sdpa_mask(
    tq: int,
    tk: int,
    window: int | None = None,
    cu_seqlens: torch.Tensor | None = None,
    device: torch.device | None = None,
) -> tuple[torch.Tensor | None, bool]:
    """What SDPA needs as (attn_mask, is_causal): its built-in causal mask when that is exact (fast kernels),
    no mask when every key is visible (a decode step), else an explicit boolean mask."""
    if cu_seqlens is None:
        window_covers_all = window is None or tk <= window
        if tq == tk and window_covers_all:
            return None, True
        if tq == 1 and window_covers_all:
            return None, False
    return allowed_keys(tq, tk, window, cu_seqlens, device), False
