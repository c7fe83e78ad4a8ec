"""Several methods over several seeds as tables: the mean and spread of the total metrics
(seed_table, markdown_table) and of the final ones (final_markdown, the command line's `compare`),
each mean ± sample sd over the runs that count (labkit.analysis.spread, labkit.analysis.counted)."""
from __future__ import annotations

from labkit.analysis.chance import final_chance
from labkit.analysis.counted import counted, runs_text
from labkit.analysis.spread import mean_sd, mean_sd_text
from labkit.config import RunConfig
from labkit.experiment.metrics import KIND_ABBREVIATIONS, KINDS, natural_kind
from labkit.experiment.result import RunResult

TOTALS = ("total_average_accuracy", "total_average_forgetting")


def seed_table(results: dict[str, list[RunResult]], kinds: tuple[str, ...] = KINDS) -> list[dict]:
    """One row per method: for each kind and total metric, (mean, sd) over the runs that
    count (labkit.analysis.counted: finished; fractions; NaN when none does), how many runs there are
    ("seeds"), count ("counted") and diverged, and "runs": '2 of 3 (1 failed)'."""
    rows = []
    for method, runs in results.items():
        kept = counted(runs)
        row: dict = {"method": method, "seeds": len(runs), "counted": len(kept),
                     "diverged": sum(r.status == "diverged" for r in runs), "runs": runs_text(runs)}
        for kind in kinds:
            for metric in TOTALS:
                row[f"{kind}_{metric}"] = mean_sd([r.summary(kind)[metric] for r in kept])
        rows.append(row)
    return rows


def markdown_table(rows: list[dict], kinds: tuple[str, ...] = KINDS) -> str:
    """Percent, mean ± sd, one column per kind x total metric ('TAw acc', 'TAg forg'), and the
    runs each mean is over ("-" where no run counts)."""
    names = {"total_average_accuracy": "acc", "total_average_forgetting": "forg"}
    head = ["method"] + [f"{KIND_ABBREVIATIONS[k]} {names[m]}" for k in kinds for m in TOTALS] + ["runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["method"]] + [mean_sd_text(*row[f"{k}_{m}"]) for k in kinds for m in TOTALS]
        lines.append("| " + " | ".join(cells + [row["runs"]]) + " |")
    return "\n".join(lines)


def final_markdown(results: dict[str, list[RunResult]]) -> str:
    """Markdown: per row, the final average accuracy and forgetting in the scenario's own kind
    (natural_kind: task-aware for task-IL, task-agnostic otherwise) and the final k-NN probe
    accuracy, each mean ± sample sd in percent over the runs that count (labkit.analysis.counted:
    finished; a failed run's last task is not a final one), and the runs each mean is over, naming
    those left out ('2 of 3 (1 failed)'); the headers give the chance levels of the first row's
    config (labkit.analysis.chance; the k-NN probe's among every class seen, task-agnostic)."""
    first = RunConfig.from_dict(next(iter(results.values()))[0].config)
    chance, knn_chance = 100 * final_chance(first), 100 * final_chance(first, "tag")
    header = (f"| method | final accuracy (chance {chance:.1f}) | final forgetting | "
              f"k-NN after last task (chance {knn_chance:.1f}) | runs |")
    lines = [header, "|---|---|---|---|---|"]
    for label, runs in results.items():
        kind = natural_kind(runs[0].config["scenario"])
        kept = counted(runs)
        summaries = [r.summary(kind) for r in kept]
        cells = [mean_sd_text(*mean_sd(values)) for values in (
            [s["final_average_accuracy"] for s in summaries], [s["final_average_forgetting"] for s in summaries],
            [r.knn_acc[-1] for r in kept if r.knn_acc])]
        lines.append(f"| {label} | {' | '.join(cells)} | {runs_text(runs)} |")
    return "\n".join(lines)
