"""Weight-decay groups and learning-rate schedules."""
from __future__ import annotations

import pytest

from hybrid.config import ModelConfig
from hybrid.lm import HybridLM
from hybrid.train.optim import OptimConfig, lr_factor, param_groups


def test_no_weight_decay_on_norms_biases_and_gate_parameters():
    cfg = ModelConfig(vocab_size=64, d_model=32, n_layers=4, n_heads=2, head_dim=16)
    cfg.linear.variant = "gated_deltanet"
    model = HybridLM(cfg)
    decay, skip = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    skipped = {names[id(p)] for p in skip["params"]}
    decayed = {names[id(p)] for p in decay["params"]}
    assert any("A_log" in n for n in skipped) and any("dt_bias" in n for n in skipped)
    assert any("norm" in n for n in skipped)
    assert all(p.ndim >= 2 for p in decay["params"]) and "embed.weight" in decayed
    assert decay["weight_decay"] == 0.1 and skip["weight_decay"] == 0.0


@pytest.mark.parametrize("schedule", ["cosine", "wsd", "constant"])
def test_schedules_warm_up_then_decay_to_floor(schedule):
    cfg = OptimConfig(warmup_steps=10, schedule=schedule, min_lr_ratio=0.1, decay_fraction=0.2)
    f = [lr_factor(s, 100, cfg) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(f[:10], f[1:10]))
    if schedule == "constant":
        assert f[-1] == 1.0
    else:
        assert f[-1] == pytest.approx(0.1, abs=0.02) and all(b <= a + 1e-12 for a, b in zip(f[10:], f[11:]))
    if schedule == "wsd":
        assert f[79] == 1.0 and f[85] < 1.0  # stable, then the final 20% decays
