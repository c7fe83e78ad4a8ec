"""Several methods over several seeds: the mean and spread of the total metrics, as a table."""
from __future__ import annotations

import math
import statistics

from labkit.analysis.chance import chance_after_each_task, final_chance
from labkit.analysis.counted import counted, runs_text
from labkit.config import RunConfig
from labkit.experiment.result import RunResult
from labkit.experiment.runner import natural_kind

TOTALS = ("total_average_accuracy", "total_average_forgetting")


def mean_spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; both NaN for no value)."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def seed_table(results: dict[str, list[RunResult]], kinds: tuple[str, ...] = ("taw", "tag")) -> list[dict]:
    """One row per method: for each kind and total metric, mean and spread over the runs that
    count (labkit.analysis.counted: finished; fractions; NaN when none does), how many runs there are
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


def spread(values: list[float]) -> str:
    """'mean ± sample std' in percent ('-' for no value)."""
    return percent_cell(*mean_spread(values))


def final_table(results: dict[str, list[RunResult]]) -> str:
    """Markdown: per row, the final average accuracy and forgetting in the scenario's own kind
    (task-aware for task-IL, task-agnostic otherwise) and the final k-NN probe accuracy, each
    mean ± sample std in percent over the runs that count (labkit.analysis.counted: finished; a failed run's
    last task is not a final one), and the runs each mean is over, naming those left out ('2 of 3
    (1 failed)'); the headers give the chance levels of the first row's config."""
    first = RunConfig.from_dict(next(iter(results.values()))[0].config)
    chance, knn_chance = 100 * final_chance(first), 100 * chance_after_each_task(first, "tag")[-1]
    header = (f"| method | final accuracy (chance {chance:.1f}) | final forgetting | "
              f"k-NN after last task (chance {knn_chance:.1f}) | runs |")
    lines = [header, "|---|---|---|---|---|"]
    for label, runs in results.items():
        kind = natural_kind(runs[0].config["scenario"])
        kept = counted(runs)
        summaries = [r.summary(kind) for r in kept]
        knn = [r.knn_acc[-1] for r in kept if r.knn_acc]
        lines.append(f"| {label} | {spread([s['final_average_accuracy'] for s in summaries])} | "
                     f"{spread([s['final_average_forgetting'] for s in summaries])} | "
                     f"{spread(knn) if knn else '-'} | {runs_text(runs)} |")
    return "\n".join(lines)
