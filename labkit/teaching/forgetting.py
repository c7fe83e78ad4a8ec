"""Notebook 00's computations (forgetting in class-IL) and the table of final accuracy and
forgetting over seeds that notebooks 00 and 01 print.

Chance: each accuracy header gives the final average accuracy a uniform guess scores in that kind
(labkit.analysis.chance, whose docstring states the formula): task-aware the mean over the tasks of
1/|classes of task u|, task-agnostic 1/(classes seen after the last task).
"""
from __future__ import annotations

import pandas as pd

from labkit.analysis.chance import final_chance
from labkit.analysis.counted import counted, runs_text
from labkit.analysis.spread import mean_sd, mean_sd_text
from labkit.config import RunConfig
from labkit.experiment.metrics import KIND_NAMES
from labkit.experiment.result import RunResult


def final_frame(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """One row per method: final average accuracy A_T and forgetting F_T, task-aware and
    task-agnostic, as 'mean ± sd' in percent (labkit.analysis.spread) over its runs (one per seed)
    that count (labkit.analysis.counted: finished; '-' when none does), and the runs they are over
    ('2 of 3 (1 diverged)'); the accuracy headers carry the chance level of the first run's config."""
    config = RunConfig.from_dict(next(iter(results.values()))[0].config)
    rows = {}
    for method, runs in results.items():
        row = {}
        for kind, label in KIND_NAMES.items():
            summaries = [r.summary(kind) for r in counted(runs)]
            row[(label, f"accuracy (chance {100 * final_chance(config, kind):.0f})")] = mean_sd_text(
                *mean_sd(s["final_average_accuracy"] for s in summaries))
            row[(label, "forgetting")] = mean_sd_text(*mean_sd(s["final_average_forgetting"] for s in summaries))
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
