"""Statistics over seeds: mean with a 95% Student-t interval, and a ratio of two means with its interval.

The ratio interval is the delta method on log(ratio) with min(n_a, n_b) - 1 degrees of freedom (conservative for
unequal seeds); a zero or missing mean has no ratio. Fewer than two seeds give no interval, so no verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 95% quantiles t(0.975, df), df = 1..30; beyond 30 the table's tail steps down to the normal 1.96.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_T975_TAIL = ((40, 2.021), (60, 2.000), (120, 1.980))


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with df degrees of freedom (a 95% two-sided interval)."""
    if df < 1:
        raise ValueError(f"df={df}: a t-interval needs at least two values")
    if df <= len(_T975):
        return _T975[df - 1]
    for limit, q in _T975_TAIL:
        if df <= limit:
            return q
    return 1.960


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and its 95% interval (lo, hi None with fewer than two values)."""

    mean: float
    lo: float | None
    hi: float | None
    n: int
    sd: float | None
    values: tuple[float, ...]

    @property
    def half(self) -> float | None:
        return None if self.hi is None else (self.hi - self.lo) / 2


def estimate(values: list[float]) -> Estimate | None:
    """Mean ± t(0.975, n-1) · sd/√n over the finite values; None when there are none."""
    xs = tuple(float(v) for v in values if v is not None and math.isfinite(v))
    if not xs:
        return None
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return Estimate(mean, None, None, n, None, xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, sd, xs)


@dataclass(frozen=True)
class Ratio:
    """A ratio to the baseline where 1.0 is parity and above is better, with its 95% interval (None: no interval)."""

    value: float
    lo: float | None
    hi: float | None

    @property
    def verdict(self) -> str:
        """'worse' / 'better' when the interval excludes 1, 'parity' when it holds it, 'n/a' without one."""
        if self.lo is None:
            return "n/a"
        if self.hi < 1.0:
            return "worse"
        if self.lo > 1.0:
            return "better"
        return "parity"


def ratio(run: Estimate | None, base: Estimate | None, lower_is_better: bool = False) -> Ratio | None:
    """run/base (base/run for a loss), with the delta-method interval on the log ratio."""
    if run is None or base is None or run.mean <= 0 or base.mean <= 0:
        return None
    num, den = (base, run) if lower_is_better else (run, base)
    r = num.mean / den.mean
    if run.n < 2 or base.n < 2:
        return Ratio(r, None, None)
    se = math.sqrt((num.sd / num.mean) ** 2 / num.n + (den.sd / den.mean) ** 2 / den.n)
    q = t975(min(run.n, base.n) - 1)
    return Ratio(r, r * math.exp(-q * se), r * math.exp(q * se))
