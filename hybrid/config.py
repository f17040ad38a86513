"""The model's configuration: one dataclass per concern, every field documented in one line (with its unit).

A recipe sets `model.ratio`, `model.linear.variant` and `model.attention.type`; sizes set the widths.
Fields left `None` are derived from the model-level defaults (e.g. a mixer's head count from `n_heads`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class LinearConfig:
    """The linear-attention mixer used in the `L` layers."""

    variant: str = "kda"
    """Which linear mixer: linear | lightning | deltanet | gated_deltanet | kda."""
    num_heads: Optional[int] = None
    """Heads of the linear mixer (default: model.n_heads)."""
    head_dim: Optional[int] = None
    """Key (and query) dimension per head, K (default: model.head_dim)."""
    expand_v: float = 1.0
    """Value dimension per head as a multiple of head_dim: V = head_dim * expand_v."""
    conv_size: int = 4
    """Kernel width of the short causal depthwise conv on q/k/v (delta-rule variants); 0 disables it."""
    plain_conv_size: int = 0
    """linear, lightning: the same short conv (then SiLU) on q, k and v, of this width; 0: none, as published. An
    ablation axis: what the delta-rule variants have, given to plain linear attention (docs/studies/zoology_mqar)."""
    allow_neg_eigval: bool = False
    """Delta-rule variants: beta in (0, 2) instead of (0, 1), so the transition can have negative eigenvalues."""
    gate_rank: Optional[int] = None
    """KDA: rank of the low-rank projection that makes the per-channel decay (default: head_dim)."""
    chunk_size: int = 64
    """Tokens per chunk in the chunked kernels."""
    recompute: bool = False
    """deltanet, gated_deltanet, kda: the Triton backward recomputes the intra-chunk tensors instead of keeping them
    from the forward (kernels.LaunchConfig.recompute): less activation memory for one more intra-chunk forward per
    layer. Off until a GPU run has timed it (benchmarks/saved_activations.py measures the memory)."""


@dataclass
class AttentionConfig:
    """The softmax-attention mixer used in the `A` layers."""

    type: str = "mha"
    """Which attention: mha | gated | mla | swa | dsa."""
    num_heads: Optional[int] = None
    """Query heads (default: model.n_heads)."""
    num_kv_heads: Optional[int] = None
    """Key/value heads for GQA (default: num_heads, i.e. plain MHA)."""
    head_dim: Optional[int] = None
    """Dimension per head (default: model.head_dim)."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""
    rotary_fraction: float = 1.0
    """Fraction of each head's dimensions that get RoPE (Qwen3-Next gated attention uses 0.25)."""
    nope: bool = False
    """Use no positional encoding at all (Kimi Linear's MLA layers are NoPE; the mla recipe turns this on)."""
    window: int = 256
    """swa: how many past tokens (including the current one) each query may attend to."""
    conv_size: int = 0
    """mha, swa: a short causal convolution (then SiLU) on q, k and v, the delta-rule layers' own; 0: none. An
    ablation axis: what the hybrids' linear layers have, given to the baseline (docs/validity.md, calibration)."""
    kv_lora_rank: int = 64
    """mla: rank of the compressed (latent) KV."""
    q_lora_rank: int = 0
    """mla: rank of the compressed query; 0 means a full-rank query projection."""
    rope_head_dim: int = 16
    """mla: per-head dims that carry RoPE (decoupled key), when nope is False."""
    topk: int = 64
    """dsa: how many past tokens the indexer lets each query attend to."""
    index_heads: int = 4
    """dsa: heads of the lightweight indexer."""
    index_head_dim: int = 32
    """dsa: dimension per indexer head."""
    packed: str = "padded"
    """How mha, swa, gated and mla attend over packed documents: padded (a zero-padded batch of documents; any device,
    the reference) | varlen (flash attention's variable-length kernel on the packed row; CUDA fp16/bf16, falls back
    to padded elsewhere). hybrid/attention/sdpa.py. Padded until a GPU run has checked and timed varlen."""
    sparse_impl: str = "dense"
    """dsa: how the selected keys are attended: dense (SDPA over every key under the top-k mask; the reference) |
    gather (each query's top-k keys gathered: O(T topk) work, no (B, T, T) mask or indexer graph). Dense is the
    default: gather is slower on the CPU and unmeasured on a GPU (benchmarks/results/*_dsa-sparse_*.md)."""


@dataclass
class ModelConfig:
    """The hybrid language model: a stack of (linear | attention) mixer blocks laid out by `ratio` or `pattern`."""

    vocab_size: Optional[int] = None
    """Vocabulary size; None takes it from the data's tokenizer."""
    d_model: int = 256
    """Width of the residual stream."""
    n_layers: int = 8
    """Number of blocks (mixer + MLP)."""
    n_heads: int = 4
    """Default head count for both mixer kinds."""
    head_dim: int = 64
    """Default dimension per head for both mixer kinds."""
    mlp_hidden: Optional[int] = None
    """SwiGLU hidden width (default: 8/3 * d_model rounded up to a multiple of 64)."""
    ratio: str = "3:1"
    """'L:A' linear blocks per full-attention block, laid out L..LA repeating (Qwen3-Next); '1:0' / '0:1' are pure."""
    pattern: Optional[Any] = None
    """Overrides ratio: a string such as 'LLLA' repeated to n_layers, or an explicit per-layer list of 'L'/'A'."""
    tie_embeddings: bool = False
    """Share the input embedding and the output head. Off by default: tied, our small softmax-attention stacks were
    much slower to learn recall (experiments/minimax_gap_validation/README.md, 'Init and an untied head')."""
    norm_eps: float = 1e-6
    """Epsilon of every RMSNorm."""
    fused_norm: bool = False
    """Every RMSNorm (and gated output norm) as one fused Triton kernel each way where the kernel backend is Triton
    (kernels/rms_norm/triton.py). Off until a GPU run has checked it against the reference and timed it
    (benchmarks/fused_kernels.py; so far tested under the Triton interpreter only)."""
    fused_conv: bool = False
    """Every q/k/v short convolution + SiLU of a training forward as one fused Triton kernel each way where the kernel
    backend is Triton (kernels/short_conv/triton.py). Off until a GPU run has checked and timed it
    (benchmarks/fused_kernels.py; so far tested under the Triton interpreter only)."""
    fused_rope: bool = False
    """Every rotary embedding (q and k of mha, swa, gated, mla, dsa and its indexer) as one fused Triton kernel each
    way where the kernel backend is Triton (kernels/rope/triton.py). Off until a GPU run has checked and timed it
    (benchmarks/fused_kernels.py; so far tested under the Triton interpreter only)."""
    fused_gates: bool = False
    """The log decay of kda and gated_deltanet (-exp(A_log) softplus(a + dt_bias)) as one fused Triton kernel each way
    where the kernel backend is Triton (kernels/mamba_decay/triton.py). Off until a GPU run has checked and timed it
    (benchmarks/fused_kernels.py; so far tested under the Triton interpreter only)."""
    fused_mlp: bool = False
    """SwiGLU's activation (silu(gate) * up, and its backward with the product recomputed) as one fused Triton kernel
    each way where the kernel backend is Triton (kernels/swiglu/triton.py). Off until a GPU run has checked and timed
    it (benchmarks/fused_kernels.py; so far tested under the Triton interpreter only)."""
    fused_head_loss: bool = True
    """Training loss through kernels.linear_cross_entropy (row chunks, the full logits never held); false: the
    plain head + F.cross_entropy, its reference."""
    init_std: Optional[float] = None
    """Std of the normal init of linear and embedding weights; None: PyTorch's scale, 1/sqrt(3 fan_in) per linear
    layer and N(0, 1) embeddings (the head's scale when tied). Output projections into the residual stream are
    scaled by 1/sqrt(2 n_layers). A fixed 0.02 (GPT-2) left small attention stacks on the recall plateau."""
    linear: LinearConfig = field(default_factory=LinearConfig)
    """The linear mixer of `L` layers."""
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    """The attention mixer of `A` layers."""
