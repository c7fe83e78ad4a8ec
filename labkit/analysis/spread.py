"""Mean ± sample standard deviation over seeds: the numbers, and how a table writes them.

Over the values x_1..x_n of the runs that count (one per seed):

    mean = 1/n sum_i x_i
    sd   = sqrt( 1/(n-1) sum_i (x_i - mean)^2 )      (the sample standard deviation)

sd is 0 for a single value (one run shows no spread; the runs column beside a table's cell says
how many runs its mean is over), and both are NaN for no value (no run counts).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def mean_sd(values: Iterable[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) of `values`: sd 0 for one value, both NaN for none."""
    values = list(values)
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def mean_sd_text(mean: float, sd: float, scale: float = 100.0) -> str:
    """'61.3 ± 2.1': `scale` times the mean and the sd, one decimal each (scale 100: fractions
    written in percent; 1: numbers already in percent); '-' for the NaN mean of no value."""
    return "-" if math.isnan(mean) else f"{scale * mean:.1f} ± {scale * sd:.1f}"
