"""Chance levels: what a uniform guess scores, after each task and at the end of a run."""
from __future__ import annotations

import statistics

from labkit.config import RunConfig
from labkit.data import DATASETS
from labkit.experiment.metrics import chance_levels
from labkit.experiment.runner import natural_kind


def chance_after_each_task(config: RunConfig, kind: str | None = None) -> list[float]:
    """Chance level (a uniform guess, fraction) of the average accuracy A_t after each task t of
    a run of `config`, in `kind` (default: the scenario's own): task-aware, the mean of 1/|classes
    of task u| over u <= t; task-agnostic, 1/(classes seen up to t) (labkit.experiment.metrics.chance_levels)."""
    taw, tag = chance_levels(DATASETS.get(config.dataset).num_classes, config.tasks, config.scenario)
    if (kind or natural_kind(config.scenario)) == "taw":
        return [statistics.fmean(taw[: t + 1]) for t in range(config.tasks)]
    return tag


def final_chance(config: RunConfig) -> float:
    """Chance level of the final average accuracy in the scenario's own kind (fraction)."""
    return chance_after_each_task(config)[-1]
