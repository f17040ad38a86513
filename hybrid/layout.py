"""The layer layout is data: computed once from `ratio` or `pattern`, printed, never scattered `if layer % 4` checks.

`ratio: "3:1"` means 3 linear blocks per full-attention block, laid out as Qwen3-Next does: L L L A, repeating.
`pattern` overrides it: a string like "LLLA" (repeated to n_layers) or an explicit per-layer list of "L"/"A".
"""
from __future__ import annotations

from typing import Any, Sequence

LINEAR, ATTENTION = "L", "A"


def _parse_ratio(ratio: str) -> tuple[int, int]:
    parts = str(ratio).split(":")
    try:
        n_lin, n_att = (int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"model.ratio={ratio!r} is not 'L:A' with two integers, e.g. '3:1', '7:1', '1:0', '0:1'") from None
    if n_lin < 0 or n_att < 0 or n_lin + n_att == 0:
        raise ValueError(f"model.ratio={ratio!r} needs non-negative counts, not both zero, e.g. '3:1'")
    return n_lin, n_att


def _unit_from_ratio(ratio: str) -> list[str]:
    n_lin, n_att = _parse_ratio(ratio)
    if n_lin == 0:
        return [ATTENTION]
    if n_att == 0:
        return [LINEAR]
    if n_att != 1:
        raise ValueError(
            f"model.ratio={ratio!r}: write ratios as 'N:1' (e.g. '3:1') or use model.pattern for other layouts")
    return [LINEAR] * n_lin + [ATTENTION]


def _unit_from_pattern(pattern: Any) -> tuple[list[str], bool]:
    """Return (unit, explicit): a string repeats; a list is explicit per layer."""
    if isinstance(pattern, str):
        unit = [c for c in pattern.upper() if not c.isspace() and c not in ",|"]
        explicit = False
    elif isinstance(pattern, Sequence):
        unit = [str(c).upper() for c in pattern]
        explicit = True
    else:
        raise ValueError(f"model.pattern={pattern!r} must be a string like 'LLLA' or a list like ['L','L','L','A']")
    bad = sorted({c for c in unit if c not in (LINEAR, ATTENTION)})
    if not unit or bad:
        raise ValueError(f"model.pattern={pattern!r} may only contain 'L' (linear) and 'A' (attention); "
                         f"found {bad or 'nothing'}")
    return unit, explicit


def build_layout(n_layers: int, ratio: str = "3:1", pattern: Any = None) -> list[str]:
    """Per-layer kinds, e.g. ['L','L','L','A','L','L','L','A'] for n_layers=8, ratio '3:1'."""
    if n_layers < 1:
        raise ValueError(f"model.n_layers={n_layers} must be >= 1")
    if pattern is not None:
        unit, explicit = _unit_from_pattern(pattern)
        source = f"model.pattern={pattern!r}"
    else:
        unit, explicit = _unit_from_ratio(ratio), False
        source = f"model.ratio={ratio!r}"
    if explicit:
        if len(unit) != n_layers:
            raise ValueError(f"{source} lists {len(unit)} layers but model.n_layers={n_layers}; make them equal")
        return unit
    if n_layers % len(unit) != 0:
        fits = [m for m in range(len(unit), 4 * n_layers + 1, len(unit))][:3]
        raise ValueError(
            f"{source} repeats every {len(unit)} layers but model.n_layers={n_layers} is not a multiple; "
            f"use model.n_layers in {fits} or set model.pattern explicitly")
    return unit * (n_layers // len(unit))


def format_layout(layout: list[str], group: int | None = None) -> str:
    """'L L L A | L L L A': groups by the repeating unit so the ratio is visible at a glance."""
    if group is None:
        group = next((i + 1 for i, c in enumerate(layout) if c == ATTENTION), len(layout))
        group = group if group and len(layout) % group == 0 else len(layout)
    chunks = [" ".join(layout[i : i + group]) for i in range(0, len(layout), group)]
    return " | ".join(chunks)
