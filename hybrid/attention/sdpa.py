"""The one call into torch's scaled_dot_product_attention that the softmax mixers share (causal, windowed, packed,
GQA).

Packed documents (`cu_seqlens`, one (1, T) row of several documents) run as a zero-padded batch of documents
(`kernels/utils/varlen_padded.py`), each under the plain causal (or windowed) mask: cost sum over documents of
L_max^2 instead of the T^2 of one block-diagonal mask over the whole packed row (the trainer packs B rows into one,
T = B * seq_len). Padding sits after each document's last token, so causal queries never see it, and its outputs are
dropped.

cuDNN's SDPA backend is never used: on an H100 (torch 2.11, cuDNN 9) it failed mid-run on the padded document
batches of a text run ("mha_graph.execute(...).is_good()", pytorch/pytorch#134001, #190321); flash, memory-efficient
and math cover every call here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from hybrid.attention.masks import sdpa_mask
from kernels.utils.varlen_padded import packed_layout


BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
"""The SDPA backends our attention may use (not cuDNN's: see the module docstring)."""


def sdpa(q, k, v, **kwargs) -> torch.Tensor:
    """F.scaled_dot_product_attention restricted to BACKENDS; every softmax mixer calls attention through here."""
    with sdpa_kernel(BACKENDS):
        return F.scaled_dot_product_attention(q, k, v, **kwargs)


def _attend_dense(q, k, v, window, cu_seqlens, scale):
    mask, is_causal = sdpa_mask(q.shape[2], k.shape[2], window, cu_seqlens, q.device)
    gqa = q.shape[1] != k.shape[1]
    return sdpa(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale, enable_gqa=gqa)


def _attend_documents(q, k, v, window, cu_seqlens, scale):
    layout = packed_layout(cu_seqlens if cu_seqlens.device == q.device else cu_seqlens.to(q.device))

    def docs(x: torch.Tensor) -> torch.Tensor:  # (1, H, T, E) -> (N, H, L, E)
        return layout.pad(x.transpose(1, 2)).transpose(1, 2)

    o = _attend_dense(docs(q), docs(k), docs(v), window, None, scale)  # (N, H, L, Ev)
    return layout.unpad(o.transpose(1, 2)).transpose(1, 2)  # (1, H, T, Ev)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int | None = None,
    cu_seqlens: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Causal softmax attention of the last Tq positions over Tk keys.

    q: (B, H, Tq, E); k: (B, H_kv, Tk, E); v: (B, H_kv, Tk, Ev) with H a multiple of H_kv (GQA) -> (B, H, Tq, Ev).
    cu_seqlens: packed documents of a (1, T) row (B == 1, Tq == Tk == T). scale defaults to 1/sqrt(E).
    """
    if cu_seqlens is not None and q.shape[0] == 1 and q.shape[2] == k.shape[2]:
        return _attend_documents(q, k, v, window, cu_seqlens, scale)
    return _attend_dense(q, k, v, window, cu_seqlens, scale)
