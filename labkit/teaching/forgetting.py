"""Notebook 00's computations (forgetting in class-IL) and the table of final accuracy and
forgetting over seeds that notebooks 00 and 01 print.

Chance. A uniform guess among a task's own classes is right with probability 1/|classes of u|
(task-aware chance); among all classes seen after task t, 1/(classes seen) (task-agnostic
chance; labkit.experiment.metrics.chance_levels). The final average accuracy of a guesser is the mean of
those over the tasks.
"""
from __future__ import annotations

import statistics
from typing import Callable

import pandas as pd

from labkit.analysis.chance import chance_after_each_task
from labkit.analysis.counted import counted, runs_text
from labkit.analysis.paired import PairedDifference, paired_runs
from labkit.config import RunConfig
from labkit.experiment.result import RunResult

KINDS = {"taw": "task-aware", "tag": "task-agnostic"}


def final_chance(config: dict) -> dict[str, float]:
    """kind -> chance level of the final average accuracy A_T of a run of `config` (fraction)."""
    run_config = RunConfig.from_dict(config)
    return {kind: chance_after_each_task(run_config, kind)[-1] for kind in KINDS}


def mean_sd(values: list[float]) -> str:
    """'mean ± sample std' of fractions, in percent (no ± for one value, '-' for none)."""
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    return f"{mean:.1f}" if len(values) < 2 else f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def final_table(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """One row per method: final average accuracy A_T and forgetting F_T, task-aware and
    task-agnostic, as 'mean ± sd' in percent over its runs (one per seed) that count
    (labkit.analysis.counted: finished; '-' when none does), and the runs they are over ('2 of 3 (1
    diverged)'); the accuracy headers carry the chance level."""
    chance = final_chance(next(iter(results.values()))[0].config)
    rows = {}
    for method, runs in results.items():
        row = {}
        for kind, label in KINDS.items():
            summaries = [r.summary(kind) for r in counted(runs)]
            row[(label, f"accuracy (chance {100 * chance[kind]:.0f})")] = mean_sd(
                [s["final_average_accuracy"] for s in summaries])
            row[(label, "forgetting")] = mean_sd([s["final_average_forgetting"] for s in summaries])
        row[("", "runs")] = runs_text(runs)
        rows[method] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def split_frame(result: RunResult, splits: list[list[list[list[float]]]], cells: list[tuple[int, int]]) -> pd.DataFrame:
    """For the cells (t, u) of a run of 2-class tasks: task-aware acc[t, u] and how head u split
    task u's test images after task t (splits[t][u][a][0]: the share of class a's images it gave
    to the task's first class a; model_probes.head_splits), in percent. With balanced classes the
    accuracy is (a's images called a + 100 - b's images called a) / 2."""
    rows = [{"after task": t + 1, "task": u + 1, "task-aware accuracy": 100 * result.acc_taw[t][u],
             "a's images called a": 100 * splits[t][u][0][0],
             "b's images called a": 100 * splits[t][u][1][0]} for t, u in cells]
    return pd.DataFrame(rows).set_index(["after task", "task"]).round(1)


def paired_by_seed(a: list[RunResult], b: list[RunResult], value: Callable[[RunResult], float]) -> PairedDifference | None:
    """value(a_s) - value(b_s) over the seeds s where both lists hold a run that counts
    (labkit.analysis.paired.paired_runs)."""
    return paired_runs(a, b, value)
