"""The paired interval against scipy's own paired t-test, and the claim checker's two modes."""
import math

import numpy as np
import pytest
from scipy import stats

from labkit.analysis.paired import paired_difference
from labkit.teaching.claims import ClaimFailed, claim


def test_paired_interval_matches_scipy():
    a = [0.488, 0.512, 0.463, 0.470, 0.501]
    b = [0.448, 0.471, 0.452, 0.430, 0.460]
    d = paired_difference(a, b)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert d.mean == pytest.approx(np.mean(np.subtract(a, b)))
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert d.positive == 5 and d.separated


def test_a_difference_inside_the_spread_is_not_separated():
    d = paired_difference([0.973, 0.960, 0.990], [0.972, 0.962, 0.989])
    assert not d.separated and d.low < 0 < d.high
    assert "not separated" in d.text()


def test_one_seed_has_no_interval_and_mismatched_seeds_are_refused():
    d = paired_difference([0.5], [0.4])
    assert math.isnan(d.low) and "no interval" in d.text()
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        paired_difference([0.5, 0.6], [0.4])


def test_a_false_claim_fails_by_default_and_is_marked_in_quick_mode(capsys):
    assert claim(True, "holds", quick=False)
    with pytest.raises(ClaimFailed, match="does not hold"):
        claim(False, "LwF beats finetune", quick=False)
    assert not claim(False, "LwF beats finetune", quick=True)


def test_paired_runs_match_seeds_and_leave_runs_that_did_not_finish_out():
    from types import SimpleNamespace

    from labkit.analysis.paired import paired_runs

    def run(seed, value, status="finished"):
        return SimpleNamespace(config={"seed": seed}, status=status, value=value)

    a = [run(0, 0.9), run(1, 0.8), run(2, 0.1, "diverged"), run(3, 0.1, "failed"), run(4, 0.1, "stopped")]
    b = [run(4, 0.5), run(3, 0.5), run(2, 0.5), run(1, 0.6), run(0, 0.7)]
    d = paired_runs(a, b, lambda r: r.value)
    assert d.n == 2 and d.mean == pytest.approx(((0.9 - 0.7) + (0.8 - 0.6)) / 2)
    assert paired_runs([run(0, 0.9, "diverged")], b, lambda r: r.value) is None
