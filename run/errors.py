"""ConfigError: the one-line error a user sees for a bad recipe, key or value, with the closest valid names."""
from __future__ import annotations

import difflib
from typing import Iterable


class ConfigError(ValueError):
    """A configuration mistake; train.py prints it as one line and exits with code 2."""


def closest(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    valid = list(valid)
    hits = difflib.get_close_matches(name, valid, n=n, cutoff=0.5)
    if not hits:  # compare the last dotted segment too: 'optim.lrr' vs 'optim.lr'
        tail = name.rsplit(".", 1)[-1]
        hits = [v for v in valid if difflib.get_close_matches(tail, [v.rsplit(".", 1)[-1]], cutoff=0.6)][:n]
    return hits


def unknown(what: str, name: str, valid: Iterable[str]) -> ConfigError:
    """ConfigError("unknown recipe 'kda_3t1'; did you mean 'kda_3to1'? (valid: ...)")."""
    valid = sorted(valid)
    hits = closest(name, valid)
    hint = f"; did you mean {' or '.join(repr(h) for h in hits)}?" if hits else ""
    listing = f" (valid: {', '.join(valid)})" if len(valid) <= 16 else ""
    return ConfigError(f"unknown {what} {name!r}{hint}{listing}")
