"""Every softmax mixer's attention runs with cuDNN's SDPA backend switched off (hybrid/attention/sdpa.py says why)."""
import pytest
import torch
import torch.nn.functional as F

from hybrid.config import ModelConfig
from hybrid.lm import HybridLM


@pytest.mark.parametrize("attention", ["mha", "gated", "mla", "swa", "dsa"])
def test_attention_never_runs_with_cudnn_sdpa_enabled(monkeypatch, attention):
    seen = []
    real = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        seen.append(torch.backends.cuda.cudnn_sdp_enabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    cfg = ModelConfig(vocab_size=32, d_model=32, n_layers=2, n_heads=2, head_dim=16, ratio="0:1")
    cfg.attention.type = attention
    model = HybridLM(cfg)
    ids = torch.randint(0, 32, (1, 12))
    model(ids)
    model(ids, cu_seqlens=torch.tensor([0, 5, 12]))
    assert seen and not any(seen), f"{attention}: cuDNN SDPA enabled during {sum(seen)} of {len(seen)} calls"
    assert torch.backends.cuda.cudnn_sdp_enabled(), "the global setting is restored after each call"
