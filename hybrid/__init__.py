"""The hybrid language model, and apart from it the parts that train it.

    config, layout        ModelConfig; the per-layer L/A layout from ratio or pattern
    registry              mixers built by name, and the decode contract they share
    linear/, attention/   the mixers of the L and A layers, with their decode caches
    block, mlp, norm      pre-norm block, SwiGLU, RMSNorm
    weight_init           the default init of linear weights
    lm                    HybridLM: forward, loss, cached generation, FLOPs per token
    train/                LightningModule, optimiser and schedules, throughput / MFU
"""
