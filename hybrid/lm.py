"""The hybrid language model: embedding -> blocks laid out by ratio/pattern -> RMSNorm -> (tied) head.

`forward(input_ids, caches=None)` runs training (no cache) or prefill/decode with one cache per layer: a KV cache
for attention layers, a recurrent state (+ short-conv state) for linear layers, so a decoded token costs O(1) in
context length in linear layers. `generate()` decodes greedily (or with temperature) through those caches.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hybrid.weight_init import linear_std
from kernels.cross_entropy import linear_cross_entropy
from kernels.utils.host_offsets import host_offsets, record_host_offsets
from hybrid.attention.rope import RotaryEmbedding
from hybrid.block import Block
from hybrid.config import ModelConfig
from hybrid.layout import build_layout, format_layout
from hybrid.linear.short_conv import ShortConv
from hybrid.mlp import SwiGLU
from hybrid.norm import RMSNorm

_RESIDUAL_OUT_NAMES = ("o_proj", "out_proj", "down")


class HybridLM(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if not cfg.vocab_size:
            raise ValueError("model.vocab_size is not set; it comes from the data's tokenizer or model.vocab_size=N")
        self.cfg = cfg
        self.layout = build_layout(cfg.n_layers, cfg.ratio, cfg.pattern)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i, kind) for i, kind in enumerate(self.layout))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.embed.weight
        for module in self.modules():
            if isinstance(module, RMSNorm):
                module.fused = cfg.fused_norm
            elif isinstance(module, ShortConv):
                module.fused = cfg.fused_conv
            elif isinstance(module, RotaryEmbedding):
                module.fused = cfg.fused_rope
            elif isinstance(module, SwiGLU):
                module.fused = cfg.fused_mlp
        self.init_weights()

    @property
    def layout_str(self) -> str:
        return format_layout(self.layout)

    def init_weights(self) -> None:
        """Normal init of every matrix (hybrid.weight_init.linear_std: init_std, or 1/sqrt(3 fan_in) when it is
        None); output projections into the residual stream scaled by 1/sqrt(2 n_layers) (GPT-2) so the residual
        stream's variance does not grow with depth. Embeddings: init_std, or N(0, 1) untied / the head's std tied.
        Mixer-specific parameters (decay A_log, dt_bias, conv kernels, norm weights) keep their module's init."""
        out_scale = 1 / math.sqrt(2 * self.cfg.n_layers)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                std = linear_std(module, self.cfg.init_std)
                leaf = name.rsplit(".", 1)[-1]
                nn.init.normal_(module.weight, 0.0, std * out_scale if leaf in _RESIDUAL_OUT_NAMES else std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if self.cfg.init_std is not None:
            nn.init.normal_(self.embed.weight, 0.0, self.cfg.init_std)
        elif self.cfg.tie_embeddings:
            nn.init.normal_(self.embed.weight, 0.0, linear_std(self.head, None))
        else:
            nn.init.normal_(self.embed.weight, 0.0, 1.0)

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def new_cache(self) -> list:
        return [block.mixer.new_cache() for block in self.blocks]

    def forward(self, input_ids: torch.Tensor, caches: list | None = None, cu_seqlens: torch.Tensor | None = None,
                cu_seqlens_host: Sequence[int] | None = None):
        """input_ids (B, T) -> logits (B, T, vocab), caches (list per layer, or None in training).

        cu_seqlens: packed documents as offsets into the flattened batch (0, ..., B*T); rows are run as one (1, B*T)
        sequence so that no document sees another (a row end must also be a document end). cu_seqlens_host: the same
        offsets on the host (as the data built them), so that no layer reads cu_seqlens back from the device."""
        x, new_caches = self.features(input_ids, caches, cu_seqlens, cu_seqlens_host)
        return self.head(x), new_caches

    def features(self, input_ids: torch.Tensor, caches: list | None = None, cu_seqlens: torch.Tensor | None = None,
                 cu_seqlens_host: Sequence[int] | None = None) -> tuple[torch.Tensor, list | None]:
        """forward() up to the head: the final-normed hidden states (B, T, D), and the caches."""
        if cu_seqlens is not None and cu_seqlens_host is not None:
            record_host_offsets(cu_seqlens, cu_seqlens_host)
        if cu_seqlens is not None and input_ids.shape[0] > 1:
            if caches is not None:
                raise ValueError("cu_seqlens (packed documents) is for training; decode without it")
            B, T = input_ids.shape
            if not set(range(0, B * T + 1, T)) <= set(host_offsets(cu_seqlens)):
                raise ValueError("cu_seqlens must contain every row boundary 0, T, 2T, ..., B*T of the batch")
            x, _ = self.features(input_ids.reshape(1, B * T), None, cu_seqlens)
            return x.reshape(B, T, -1), None
        x = self.embed(input_ids)  # (B, T, D)
        new_caches = [] if caches is not None else None
        for i, block in enumerate(self.blocks):
            x, c = block(x, cache=None if caches is None else caches[i], cu_seqlens=cu_seqlens)
            if new_caches is not None:
                new_caches.append(c)
        return self.norm(x), new_caches

    def loss(self, input_ids: torch.Tensor, labels: torch.Tensor, cu_seqlens: torch.Tensor | None = None,
             cu_seqlens_host: Sequence[int] | None = None) -> torch.Tensor:
        """Mean next-token cross-entropy over the labels that are not -100 (padding, or prompts in answers-only
        data)."""
        x, _ = self.features(input_ids, cu_seqlens=cu_seqlens, cu_seqlens_host=cu_seqlens_host)  # (B, T, D)
        if self.cfg.fused_head_loss:
            return linear_cross_entropy(x.flatten(0, 1), self.head.weight, labels.flatten(), ignore_index=-100)
        logits = self.head(x)
        return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
                 eos_id: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Prefill the prompt (B, T) once, then decode token by token through the per-layer caches.
        temperature 0 is greedy. Returns only the new tokens, (B, max_new_tokens) (padded with eos after eos)."""
        caches = self.new_cache()
        logits, caches = self(input_ids, caches)
        out = []
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for _ in range(max_new_tokens):
            last = logits[:, -1].float()
            if temperature > 0:
                nxt = torch.multinomial(torch.softmax(last / temperature, -1), 1, generator=generator)
            else:
                nxt = last.argmax(-1, keepdim=True)  # (B, 1)
            if eos_id is not None:
                nxt = torch.where(done[:, None], torch.full_like(nxt, eos_id), nxt)
                done |= nxt[:, 0] == eos_id
            out.append(nxt)
            if eos_id is not None and bool(done.all()):
                break
            logits, caches = self(nxt, caches)
        new = torch.cat(out, dim=1)
        if new.shape[1] < max_new_tokens:  # stopped early: pad with eos
            new = F.pad(new, (0, max_new_tokens - new.shape[1]), value=eos_id)
        return new

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward = 3x forward): 6 per matmul parameter (Kaplan et al.) plus
        each mixer's own mixing FLOPs counted as what they are (linear mixers are O(1) in seq_len, attention O(T))."""
        matmul_params = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        mixing = sum(block.mixer.flops_per_token(seq_len) for block in self.blocks)
        return 6.0 * matmul_params + 3.0 * mixing
