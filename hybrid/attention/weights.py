"""The mixers' default init: normal(0, init_std) on every linear weight (no biases); norms keep their ones.

Kept deliberately plain: the model re-initializes globally (e.g. scaled output projections), so this only has to
make a freshly built mixer usable on its own, as in the tests.
"""

from __future__ import annotations

from torch import nn


def init_linear_(module: nn.Module, std: float) -> None:
    """Draw every nn.Linear weight under `module` from normal(0, std), in place."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
