"""Many comparisons at once: with m paired differences each at 95%, about 5% of m exclude zero by
chance alone even when nothing differs. Holm's step-down procedure keeps the chance of *any*
false separation at alpha: sort the m p-values, p_(1) <= ... <= p_(m), and call the k-th smallest
separated while p_(j) <= alpha / (m - j + 1) holds for every j <= k (it stops at the first that
does not). Each p-value is the paired t-test's, read back from the difference's 95% interval:
se = half-width / t_{0.975, n-1}, t = mean / se, p = 2 P(T_{n-1} > |t|)."""
from __future__ import annotations

import math

from scipy import stats

from labkit.analysis.paired import PairedDifference

CONFIDENCE = 0.95  # the level labkit.analysis.paired's intervals are made at


def p_value(d: PairedDifference) -> float:
    """The two-sided paired t-test's p-value of `d` (NaN with one seed: no interval)."""
    if d.n < 2 or math.isnan(d.low):
        return math.nan
    se = (d.high - d.mean) / stats.t.ppf(0.5 + CONFIDENCE / 2, d.n - 1)
    if se == 0:  # every seed gave the same difference
        return 0.0 if d.mean != 0 else 1.0
    return float(2 * stats.t.sf(abs(d.mean) / se, d.n - 1))


def holm(p_values: list[float], alpha: float = 0.05) -> list[bool]:
    """Which hypotheses Holm's procedure rejects (in the order given); NaN is never rejected."""
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m, rejected = len(order), [False] * len(p_values)
    for j, (p, i) in enumerate(order):
        if p > alpha / (m - j):
            break
        rejected[i] = True
    return rejected


def multiplicity_note(differences: list[PairedDifference | None], alpha: float = 0.05) -> str | None:
    """One sentence for a table of several paired differences: how many there are, how many exclude
    zero at 95% each, how many about that many would by chance alone, and how many Holm's
    procedure keeps separated at family-wise alpha; None for fewer than two."""
    ds = [d for d in differences if d is not None and d.n >= 2]
    if len(ds) < 2:
        return None
    separated = sum(d.separated for d in ds)
    kept = sum(holm([p_value(d) for d in ds], alpha))
    return (f"{len(ds)} comparisons at 95% each: {separated} exclude 0, where about {alpha * len(ds):.1f} would by "
            f"chance alone if nothing differed; Holm's correction (family-wise {alpha:.0%}) keeps {kept} of them "
            "separated.")
