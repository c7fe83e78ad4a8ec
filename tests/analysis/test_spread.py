"""labkit.analysis.spread, the one mean ± sample sd: the numbers against numpy's (ddof=1), the
cases of one value and of none, and the text every table writes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from labkit.analysis.spread import mean_sd, mean_sd_text


def test_mean_and_sample_sd_match_numpy():
    values = [0.61, 0.58, 0.66, 0.70]
    assert mean_sd(values) == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    assert mean_sd([0.5, 0.7]) == pytest.approx((0.6, math.sqrt(0.02)))  # (0.1^2 + 0.1^2) / (2 - 1)
    assert mean_sd(v for v in (0.5, 0.7)) == pytest.approx((0.6, math.sqrt(0.02)))  # any iterable, once


def test_one_value_has_sd_zero_and_none_is_nan():
    assert mean_sd([0.4]) == (0.4, 0.0)
    assert all(math.isnan(x) for x in mean_sd([]))


def test_text_is_percent_with_one_decimal_and_a_dash_for_no_value():
    assert mean_sd_text(*mean_sd([0.5, 0.7])) == "60.0 ± 14.1"
    assert mean_sd_text(*mean_sd([0.4])) == "40.0 ± 0.0"
    assert mean_sd_text(*mean_sd([])) == "-"
    assert mean_sd_text(61.25, 2.04, scale=1) == "61.2 ± 2.0"  # numbers already in percent
