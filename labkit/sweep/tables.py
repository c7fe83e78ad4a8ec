"""Several methods over several seeds: the mean and spread of the total metrics, as a table."""
from __future__ import annotations

import math
import statistics

from labkit.counted import counted, runs_text
from labkit.result import RunResult

TOTALS = ("total_average_accuracy", "total_average_forgetting")


def mean_spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; both NaN for no value)."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def seed_table(results: dict[str, list[RunResult]], kinds: tuple[str, ...] = ("taw", "tag")) -> list[dict]:
    """One row per method: for each kind and total metric, mean and spread over the runs that
    count (labkit.counted: finished; fractions; NaN when none does), how many runs there are
    ("seeds"), count ("counted") and diverged, and "runs": '2 of 3 (1 failed)'."""
    rows = []
    for method, runs in results.items():
        kept = counted(runs)
        row: dict = {"method": method, "seeds": len(runs), "counted": len(kept),
                     "diverged": sum(r.status == "diverged" for r in runs), "runs": runs_text(runs)}
        for kind in kinds:
            for metric in TOTALS:
                row[f"{kind}_{metric}"] = mean_spread([r.summary(kind)[metric] for r in kept])
        rows.append(row)
    return rows


def markdown_table(rows: list[dict], kinds: tuple[str, ...] = ("taw", "tag")) -> str:
    """Percent, mean ± spread, one column per kind x total metric, and the runs each mean is
    over ("-" where no run counts)."""
    names = {"total_average_accuracy": "acc", "total_average_forgetting": "forg"}
    head = ["method"] + [f"{k.upper()} {names[m]}" for k in kinds for m in TOTALS] + ["runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["method"]] + [percent_cell(*row[f"{k}_{m}"]) for k in kinds for m in TOTALS]
        lines.append("| " + " | ".join(cells + [row["runs"]]) + " |")
    return "\n".join(lines)


def percent_cell(mean: float, spread: float) -> str:
    """'mean ± spread' in percent, or '-' for the NaN of a mean over no run (the runs column
    says why)."""
    return "-" if math.isnan(mean) else f"{100 * mean:.1f} ± {100 * spread:.1f}"
