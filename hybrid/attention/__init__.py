"""The softmax-attention mixers of the `A` layers, built by name from `model.attention.type`.

    mha    causal softmax attention, GQA, RoPE
    gated  Qwen3-Next gated attention: sigmoid output gate, q/k RMSNorm, partial RoPE
    mla    multi-head latent attention (DeepSeek-V2/V3, Kimi Linear): the cache holds a low-rank KV latent
    swa    sliding-window attention with a bounded cache
    dsa    DeepSeek-V3.2 sparse attention: a lightning indexer picks each query's top-k keys

Importing this package runs every module's @register_attention line.
"""

from hybrid.attention import dsa, gated, mha, mla, swa  # noqa: F401
