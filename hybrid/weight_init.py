"""The default init of linear weights: normal(0, std) with std = init_std, or, when init_std is None, PyTorch's own
scale for nn.Linear, 1 / sqrt(3 fan_in) (the variance of its default uniform init). Norms keep their ones.

Kept deliberately plain: the model re-initializes globally (e.g. scaled output projections), so this only has to
make a freshly built mixer usable on its own, as in the tests.
"""

from __future__ import annotations

from torch import nn


def linear_std(layer: nn.Linear, init_std: float | None) -> float:
    """The init std of one linear layer: init_std when set, else 1 / sqrt(3 * in_features)."""
    return init_std if init_std is not None else (3 * layer.in_features) ** -0.5


def init_linear_(module: nn.Module, init_std: float | None) -> None:
    """Draw every nn.Linear weight under `module` from normal(0, linear_std), in place."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=linear_std(m, init_std))
