"""The built-in probes, one module each: the registry `PROBES` (name -> Probe) and `get_probe(name)`."""
from __future__ import annotations

from eval.config import PROBE_NAMES
from eval.probes import carryover, copy, mqar, multihop, multiturn, niah, state
from eval.probes.base import Case, Plot, Probe, Setting

PROBES: dict[str, Probe] = {
    p.name: p for p in (mqar.PROBE, multiturn.PROBE, multihop.PROBE, niah.PROBE, copy.PROBE, state.PROBE,
                        carryover.PROBE)
}
"""Probe name -> Probe, in report order."""
assert tuple(PROBES) == PROBE_NAMES, "eval.config.PROBE_NAMES must list the registered probes in order"


def get_probe(name: str) -> Probe:
    """The probe called `name`; an unknown name raises ValueError listing the valid ones."""
    if name not in PROBES:
        raise ValueError(f"probe {name!r} is unknown; valid: {', '.join(PROBES)}")
    return PROBES[name]


__all__ = ["PROBES", "Case", "Plot", "Probe", "Setting", "get_probe"]
