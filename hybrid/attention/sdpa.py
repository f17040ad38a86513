"""The one call into torch's scaled_dot_product_attention that the softmax mixers share (causal, windowed, packed,
GQA).

Packed documents (`cu_seqlens`, one (1, T) row of several documents) run one of two ways (attention.packed):
- "padded": a zero-padded batch of documents (`kernels/utils/varlen_padded.py`), each under the plain causal (or
  windowed) mask: cost N * L_max^2 for N documents, instead of the T^2 of one block-diagonal mask over the whole
  packed row (the trainer packs B rows into one, T = B * seq_len). Padding sits after each document's last token, so
  causal queries never see it, and its outputs are dropped. Any device, dtype and head dims: the reference.
- "varlen": flash attention's variable-length kernel (torch.nn.attention.varlen) on the packed row itself, cost the
  sum of each document's own L^2, no padding copies; CUDA, fp16/bf16, equal q/k/v head dims (not MLA's), else the
  padded form runs.

cuDNN's SDPA backend is never used: on an H100 (torch 2.11, cuDNN 9) it failed mid-run on the padded document
batches of a text run ("mha_graph.execute(...).is_good()", pytorch/pytorch#134001, #190321); flash, memory-efficient
and math cover every call here.
"""

from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from hybrid.attention.masks import sdpa_mask
from kernels.utils.host_offsets import host_offsets
from kernels.utils.varlen_padded import packed_layout

PACKED = ("padded", "varlen")


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


@functools.cache
def _varlen_attn():
    """torch.nn.attention.varlen.varlen_attn and the names of its parameters, or None on a torch without it."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn, frozenset(inspect.signature(varlen_attn).parameters)


def _attend_varlen(q, k, v, window, cu_seqlens, scale) -> torch.Tensor | None:
    """The packed row (1, H, T, E) through flash attention's varlen kernel; None where it cannot take the call."""
    found = _varlen_attn()
    E = q.shape[-1]
    if found is None or q.device.type != "cuda" or q.dtype not in (torch.float16, torch.bfloat16) \
            or v.shape[-1] != E or E > 256:
        return None
    varlen_attn, params = found
    kw = {}
    if "window_size" in params:  # (left, right): keys up to `left` tokens back, none ahead; -1 unbounded
        kw["window_size"] = (-1 if window is None else window - 1, 0)
    elif window is not None:
        return None
    else:
        kw["is_causal"] = True
    if scale is not None:
        if "scale" in params:
            kw["scale"] = scale
        else:
            q = q * (scale * E ** 0.5)  # the kernel's own scale is 1/sqrt(E)
    if k.shape[1] != q.shape[1]:
        if "enable_gqa" in params:
            kw["enable_gqa"] = True
        else:
            k, v = (t.repeat_interleave(q.shape[1] // k.shape[1], dim=1) for t in (k, v))
    offsets = host_offsets(cu_seqlens)
    longest = max(b - a for a, b in zip(offsets, offsets[1:]))
    cu = cu_seqlens.to(q.device, torch.int32)
    rows = [t[0].transpose(0, 1) for t in (q, k, v)]  # (T, H, E)
    return varlen_attn(*rows, cu, cu, longest, longest, **kw).transpose(0, 1).unsqueeze(0)


def check_packed(packed: str) -> str:
    if packed not in PACKED:
        raise ValueError(f"attention.packed={packed!r}; valid: {', '.join(PACKED)}")
    return packed


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int | None = None,
    cu_seqlens: torch.Tensor | None = None,
    scale: float | None = None,
    packed: str = "padded",
) -> torch.Tensor:
    """Causal softmax attention of the last Tq positions over Tk keys.

    q: (B, H, Tq, E); k: (B, H_kv, Tk, E); v: (B, H_kv, Tk, Ev) with H a multiple of H_kv (GQA) -> (B, H, Tq, Ev).
    cu_seqlens: packed documents of a (1, T) row (B == 1, Tq == Tk == T), run as `packed` says (module docstring).
    scale defaults to 1/sqrt(E).
    """
    if cu_seqlens is not None and q.shape[0] == 1 and q.shape[2] == k.shape[2]:
        if packed == "varlen":
            o = _attend_varlen(q, k, v, window, cu_seqlens, scale)
            if o is not None:
                return o
        return _attend_documents(q, k, v, window, cu_seqlens, scale)
    return _attend_dense(q, k, v, window, cu_seqlens, scale)
