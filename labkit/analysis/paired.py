"""Paired-by-seed differences: the honest way to say whether method A beats method B.

Runs with the same seed share class order and initial weights, so d_s = a_s - b_s removes what
the seed does to both. With n seeds, mean d and sample std s_d, the 95% interval is
d +/- t_{0.975, n-1} * s_d / sqrt(n) (Student's t); the difference is *separated* from zero when
the interval excludes it. One seed gives no interval (NaN bounds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from scipy import stats

from labkit.analysis.counted import counted
from labkit.analysis.spread import mean_sd


@dataclass(frozen=True)
class PairedDifference:
    mean: float
    low: float
    high: float
    positive: int  # seeds where a > b
    n: int
    negative: int | None = None  # seeds where a < b (None: not counted)

    @property
    def separated(self) -> bool:
        """The 95% interval excludes zero."""
        return self.low > 0 or self.high < 0

    def text(self, scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
        """'+1.2 points [0.3, 2.1], positive in 3 of 3 seeds' (`scale` 100: fractions to percent;
        `digits` after the decimal point); a negative mean counts the seeds where it is negative:
        '-0.7 points [-1.1, -0.3], negative in 26 of 30 seeds'."""
        f = f"+.{digits}f"
        if self.n < 2:
            return f"{self.mean * scale:{f}}{unit} (one seed: no interval)"
        return (f"{self.mean * scale:{f}}{unit} [{self.low * scale:{f}}, {self.high * scale:{f}}], "
                + (f"negative in {self.negative} of {self.n} seeds" if self.mean < 0 and self.negative is not None
                   else f"positive in {self.positive} of {self.n} seeds")
                + ("" if self.separated else ": not separated"))


def paired_difference(a: list[float], b: list[float], confidence: float = 0.95) -> PairedDifference:
    """a_s - b_s over seeds s (a[i] and b[i] from the same seed) with a Student-t interval."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need the same, non-zero number of seeds; got {len(a)} and {len(b)}")
    d = [x - y for x, y in zip(a, b)]
    n, (mean, sd) = len(d), mean_sd(d)
    positive, negative = sum(x > 0 for x in d), sum(x < 0 for x in d)
    if n < 2:
        return PairedDifference(mean, math.nan, math.nan, positive, n, negative)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, positive, n, negative)


def seed_pairs(a: list, b: list) -> list[tuple[Any, Any]]:
    """(a_s, b_s) for each seed s where both lists hold a run that counts (labkit.analysis.counted: it
    finished), in a's order; runs are RunResults, matched by config["seed"]."""
    b_by_seed = {r.config["seed"]: r for r in counted(b)}
    return [(r, b_by_seed[r.config["seed"]]) for r in counted(a) if r.config["seed"] in b_by_seed]


def paired_runs(a: list, b: list, value: Callable[[Any], float]) -> PairedDifference | None:
    """value(a_s) - value(b_s) over the seed_pairs of a and b: the seeds where both runs count (a
    diverged, failed, stopped or unfinished run drops its seed); None when there is no such seed."""
    pairs = seed_pairs(a, b)
    if not pairs:
        return None
    return paired_difference([value(x) for x, _ in pairs], [value(y) for _, y in pairs])
