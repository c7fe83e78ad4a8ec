"""Several methods over several seeds: the mean and spread of the total metrics, as a table."""
from __future__ import annotations

import math
import statistics

from labkit.result import RunResult

TOTALS = ("total_average_accuracy", "total_average_forgetting")


def mean_spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; both NaN for no value)."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def trained(runs: list[RunResult]) -> list[RunResult]:
    """The runs that count in a mean: a diverged run's numbers are not a trained model's."""
    return [r for r in runs if r.status != "diverged"]


def runs_cell(runs: list[RunResult]) -> str:
    """How many runs a mean is over: '3', or '2 of 3 (1 diverged)'."""
    kept = len(trained(runs))
    return str(kept) if kept == len(runs) else f"{kept} of {len(runs)} ({len(runs) - kept} diverged)"


def seed_table(results: dict[str, list[RunResult]], kinds: tuple[str, ...] = ("taw", "tag")) -> list[dict]:
    """One row per method: for each kind and total metric, mean and spread over the seeds whose
    run did not diverge (fractions; NaN when every run diverged), and how many diverged."""
    rows = []
    for method, runs in results.items():
        row: dict = {"method": method, "seeds": len(runs), "diverged": len(runs) - len(trained(runs)),
                     "runs": runs_cell(runs)}
        for kind in kinds:
            for metric in TOTALS:
                row[f"{kind}_{metric}"] = mean_spread([r.summary(kind)[metric] for r in trained(runs)])
        rows.append(row)
    return rows


def markdown_table(rows: list[dict], kinds: tuple[str, ...] = ("taw", "tag")) -> str:
    """Percent, mean ± spread, one column per kind x total metric, and the runs each mean is
    over ("diverged" where every run diverged)."""
    names = {"total_average_accuracy": "acc", "total_average_forgetting": "forg"}
    head = ["method"] + [f"{k.upper()} {names[m]}" for k in kinds for m in TOTALS] + ["runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["method"]] + [percent_cell(*row[f"{k}_{m}"]) for k in kinds for m in TOTALS]
        lines.append("| " + " | ".join(cells + [row["runs"]]) + " |")
    return "\n".join(lines)


def percent_cell(mean: float, spread: float) -> str:
    """'mean ± spread' in percent, or 'diverged' for the NaN of a mean over no run."""
    return "diverged" if math.isnan(mean) else f"{100 * mean:.1f} ± {100 * spread:.1f}"
