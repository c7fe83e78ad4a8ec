"""A run's scalars by name, the ones the loggers (TensorBoard, MLflow) write, in one place:

    train/loss, train/val_loss, train/lr     after each epoch; step = the epoch counted over all
                                             tasks (task t's epoch e: t * epochs + e + 1)
    accuracy_taw/task_U, accuracy_tag/task_U after each task t; step = t (tasks from 1, U <= t)
    average_accuracy/taw, .../tag            A_t, the mean of row t
    average_forgetting/taw, .../tag          F_t (from the second task on)
    curvature/max_eigenvalue, .../diagonal_total   with track_curvature: on all tasks seen
    curvature/newest_max_eigenvalue, ...     on the task just learned
    heads/logit_mean/head_K, heads/weight_norm/head_K   each head's offset and size
"""
from __future__ import annotations

from labkit.experiment import metrics
from labkit.experiment.events import EpochEnded
from labkit.experiment.result import RunResult

CURVATURE = ("max_eigenvalue", "diagonal_total", "newest_max_eigenvalue", "newest_diagonal_total")


def epoch_scalars(event: EpochEnded, epochs: int) -> tuple[int, dict[str, float]]:
    """(step, {name: value}) of one ended epoch."""
    values = {"train/loss": event.loss, "train/val_loss": event.val_loss, "train/lr": event.lr}
    return event.task * epochs + event.epoch + 1, {k: float(v) for k, v in values.items() if v is not None}


def task_scalars(result: RunResult, t: int) -> tuple[int, dict[str, float]]:
    """(step, {name: value}) after task t (from 0), read from the result the runner has filled."""
    values = {}
    for kind in metrics.KINDS:
        matrix = result.matrix(kind)[: t + 1, : t + 1]
        values.update({f"accuracy_{kind}/task_{u + 1}": accuracy for u, accuracy in enumerate(matrix[t])})
        values[f"average_accuracy/{kind}"] = metrics.average_accuracy(matrix)[t]
        if t > 0:
            values[f"average_forgetting/{kind}"] = metrics.average_forgetting(matrix)[t]
    if len(result.curvature) > t:
        values.update({f"curvature/{name}": result.curvature[t][name] for name in CURVATURE
                       if result.curvature[t].get(name) is not None})
    if len(result.head_stats) > t:
        for name in ("logit_mean", "weight_norm"):
            values.update({f"heads/{name}/head_{k + 1}": v for k, v in enumerate(result.head_stats[t][name])})
    return t + 1, {k: float(v) for k, v in values.items()}


def final_scalars(result: RunResult) -> dict[str, float]:
    """The run's final average accuracy in both kinds (0 tasks: none) and its tasks done."""
    finals = {f"final/average_accuracy_{kind}": float(metrics.average_accuracy(result.matrix(kind))[-1])
              for kind in metrics.KINDS} if result.tasks_done else {}
    return {**finals, "final/tasks_done": float(result.tasks_done)}


def flat_config(config: dict) -> dict:
    """A stored config in one level: its fields, the method's parameters as param.NAME."""
    flat = {k: v for k, v in config.items() if k != "method_params"}
    flat.update({f"param.{k}": v for k, v in (config.get("method_params") or {}).items()})
    return flat


def hparams_of(config: dict) -> dict:
    """The config's fields a tracker can show as parameters (numbers, strings, booleans), flat_config's."""
    return {k: v for k, v in flat_config(config).items() if isinstance(v, (bool, int, float, str))}
