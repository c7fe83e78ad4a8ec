"""Chance levels: what a uniform guess scores, as an accuracy matrix and every metric of it.

A run of K classes in T tasks: class-IL and task-IL cut the classes into groups C_0..C_{T-1} as
np.array_split does (labkit.data.scenarios); data-IL has all K classes in every task. A uniform
guess on task u's test images after task t (u <= t) is right with probability

    task-aware     chance[t, u] = 1 / |C_u|                  (among task u's own classes)
    task-agnostic  chance[t, u] = 1 / |C_0 ∪ ... ∪ C_t|      (among every class seen so far)

(1/K both ways in data-IL). Every chance level is a metric (labkit.experiment.metrics) of that
matrix: the average accuracy after each task t, A_t = 1/(t+1) sum_{u<=t} chance[t, u] (task-aware
the mean of 1/|C_u| over u <= t, task-agnostic 1/|C_0 ∪ ... ∪ C_t|); its last value A_{T-1}, the
chance of the final average accuracy; the total average accuracy over the lower triangle; and the
forgetting, 0 task-aware, but not task-agnostic: the guess's accuracy on an old task falls as
classes are added (1/2 to 1/4 when a second 2-class task arrives), and forgetting counts that fall.
"""
from __future__ import annotations

import numpy as np

from labkit.config import RunConfig
from labkit.data import DATASETS
from labkit.experiment import metrics
from labkit.experiment.metrics import natural_kind


def chance_levels(num_classes: int, num_tasks: int, scenario: str) -> tuple[list[float], list[float]]:
    """(task-aware chance 1/|C_u| on each task u, task-agnostic chance 1/|C_0 ∪ ... ∪ C_t| after
    each task t): a uniform guess's accuracy, as the module's docstring defines it."""
    if scenario == "data-il":
        return [1 / num_classes] * num_tasks, [1 / num_classes] * num_tasks
    sizes = [len(g) for g in np.array_split(np.arange(num_classes), num_tasks)]
    return [1 / s for s in sizes], [1 / sum(sizes[: t + 1]) for t in range(num_tasks)]


def chance_matrices(num_classes: int, num_tasks: int, scenario: str) -> tuple[np.ndarray, np.ndarray]:
    """The (T, T) matrices chance[t, u], task-aware and task-agnostic (every cell filled; the
    metrics read the lower triangle u <= t)."""
    aware, agnostic = chance_levels(num_classes, num_tasks, scenario)
    by_task = np.tile(np.array(aware)[None, :], (num_tasks, 1))  # cell (t, u): chance on task u
    by_step = np.tile(np.array(agnostic)[:, None], (1, num_tasks))  # cell (t, u): chance after task t
    return by_task, by_step


def chance_totals(num_classes: int, num_tasks: int, scenario: str) -> tuple[float, float]:
    """The total average accuracy (mean of chance[t, u] over u <= t) a uniform guess scores,
    task-aware and task-agnostic."""
    aware, agnostic = chance_matrices(num_classes, num_tasks, scenario)
    return metrics.total_average_accuracy(aware), metrics.total_average_accuracy(agnostic)


def chance_forgetting(num_classes: int, num_tasks: int, scenario: str) -> tuple[float, float]:
    """The total average forgetting of a uniform guess, task-aware (0: each task's chance stays
    put) and task-agnostic (positive: the chance on an old task falls as classes are added)."""
    aware, agnostic = chance_matrices(num_classes, num_tasks, scenario)
    return metrics.total_average_forgetting(aware), metrics.total_average_forgetting(agnostic)


def chance_after_each_task(config: RunConfig, kind: str | None = None) -> list[float]:
    """A_t of the chance matrix after each task t of a run of `config` (fractions), in `kind`
    ("taw" or "tag"; default the scenario's own, natural_kind)."""
    aware, agnostic = chance_matrices(DATASETS.get(config.dataset).num_classes, config.tasks, config.scenario)
    matrix = aware if (kind or natural_kind(config.scenario)) == "taw" else agnostic
    return metrics.average_accuracy(matrix).tolist()


def final_chance(config: RunConfig, kind: str | None = None) -> float:
    """The chance level of the final average accuracy A_{T-1} of a run of `config` (fraction), in
    `kind` (default the scenario's own)."""
    return chance_after_each_task(config, kind)[-1]
