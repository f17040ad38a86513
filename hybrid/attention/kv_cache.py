"""Decode caches of the attention mixers: what each layer keeps of past tokens between forward calls.

Every cache counts `length`, the tokens seen so far, which is the RoPE position of the next token; it can exceed
what is stored when the cache is bounded (sliding window). Caches grow by concatenation, which copies O(S) per
step: simple and fine at ablation scale; a preallocated buffer is the upgrade if decoding ever dominates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def _append(old: torch.Tensor | None, new: torch.Tensor, dim: int) -> torch.Tensor:
    return new if old is None else torch.cat([old, new], dim=dim)


def _keep_last(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if t.shape[dim] <= n:
        return t
    # clone so the trimmed cache does not keep the whole untrimmed storage alive
    return t.narrow(dim, t.shape[dim] - n, n).clone()


@dataclass
class KVCache:
    """Keys and values of past tokens for one softmax-attention layer (mha, gated, swa, dsa)."""

    k: torch.Tensor | None = None
    """Keys (B, H_kv, S, D), RoPE already applied."""
    v: torch.Tensor | None = None
    """Values (B, H_kv, S, D)."""
    length: int = 0
    """Tokens seen so far (the position of the next token); >= stored when max_len bounds the cache."""
    max_len: int | None = None
    """Keep only the last max_len positions (swa: window - 1); None keeps everything."""
    conv: dict[str, torch.Tensor] = field(default_factory=dict)
    """Short-conv states by projection ('q', 'k', 'v') when attention.conv_size > 0: the last conv_size-1 inputs."""

    @property
    def stored(self) -> int:
        """Positions currently held, S."""
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this call's k, v (B, H_kv, T, D); return what this call attends over (stored + new), then trim."""
        k_all, v_all = _append(self.k, k, 2), _append(self.v, v, 2)
        self.length += k.shape[2]
        if self.max_len is None:
            self.k, self.v = k_all, v_all
        else:
            self.k, self.v = _keep_last(k_all, self.max_len, 2), _keep_last(v_all, self.max_len, 2)
        return k_all, v_all


@dataclass
class SparseKVCache(KVCache):
    """KVCache plus the indexer keys of DeepSeek sparse attention (dsa), which scores every past token."""

    index_k: torch.Tensor | None = None
    """Indexer keys (B, S, index_head_dim), one per token, shared by the indexer heads."""

    def update_index(self, index_k: torch.Tensor) -> torch.Tensor:
        """Append (B, T, Di) indexer keys and return all of them. Call before update(), which advances length."""
        self.index_k = _append(self.index_k, index_k, 1)
        return self.index_k


@dataclass
class LatentCache:
    """MLA's cache: the compressed KV latent and the shared RoPE key, not per-head keys and values."""

    c_kv: torch.Tensor | None = None
    """Normalized KV latent (B, S, kv_lora_rank)."""
    k_rope: torch.Tensor | None = None
    """Decoupled RoPE key shared by all heads (B, S, rope_head_dim), rotated; rope_head_dim is 0 under NoPE."""
    length: int = 0
    """Tokens seen so far (the position of the next token)."""

    @property
    def stored(self) -> int:
        return 0 if self.c_kv is None else self.c_kv.shape[1]

    def update(self, c_kv: torch.Tensor, k_rope: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append (B, T, R) latents and (B, T, Dr) rope keys; return all stored ones."""
        self.c_kv, self.k_rope = _append(self.c_kv, c_kv, 1), _append(self.k_rope, k_rope, 1)
        self.length += c_kv.shape[1]
        return self.c_kv, self.k_rope
