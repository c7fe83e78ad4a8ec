"""What a run produces: the accuracy matrices as they grow, and the metrics derived from them."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from labkit.experiment import metrics
from labkit.experiment.outcome import STATUSES
from labkit.errors import short_repr

PER_TASK = ("acc_taw", "acc_tag", "val_taw", "val_tag", "epoch_losses", "task_seconds", "knn_acc", "head_stats",
            "curvature")  # RunResult's fields with an entry per task


def json_safe(obj: object) -> object:
    """NaN and inf -> None, recursively through lists and dicts, so files are strict JSON (as
    result.json, events.jsonl and sweep records store them)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def square(rows: list[list[float]]) -> np.ndarray:
    """Ragged rows (row t holds acc[t, 0..t]) -> a (T, T) array with NaN above the diagonal."""
    n = len(rows)
    out = np.full((n, n), np.nan)
    for t, row in enumerate(rows):
        out[t, : len(row)] = row
    return out


@dataclass
class RunResult:
    """The record of one run, complete or not.

    acc_taw[t][u] / acc_tag[t][u]: task-aware / task-agnostic accuracy on task u after learning
    task t (u <= t). epoch_losses[t][e]: mean training loss of epoch e of task t. knn_acc[t]:
    the k-NN probe's accuracy on the features after task t (labkit.experiment.knn_probe). val_taw / val_tag: as
    acc_taw / acc_tag on the validation split (runs with val_fraction > 0; else empty), what
    hyper-parameter search selects on, never the test accuracy. curvature[t]: with
    RunConfig.track_curvature, the Fisher curvature left after task t on the training images of
    tasks 0..t ({"max_eigenvalue", "diagonal_total", "images", "seconds", "likelihood"},
    labkit.curvature.tracking; its seconds are not in task_seconds); else empty. status: how the run
    ended, or "running" (labkit.experiment.outcome.STATUSES); failure: for "diverged" and "failed", what
    happened where ({"kind", "task", "epoch", "reason", "last_finite_loss", "message"}, the
    fields known), else None.
    """

    config: dict
    run_id: str | None = None
    device: str = "cpu"
    acc_taw: list[list[float]] = field(default_factory=list)
    acc_tag: list[list[float]] = field(default_factory=list)
    epoch_losses: list[list[float]] = field(default_factory=list)
    task_seconds: list[float] = field(default_factory=list)
    head_stats: list[dict[str, list[float]]] = field(default_factory=list)
    knn_acc: list[float] = field(default_factory=list)
    val_taw: list[list[float]] = field(default_factory=list)
    val_tag: list[list[float]] = field(default_factory=list)
    curvature: list[dict] = field(default_factory=list)
    status: str = "running"
    failure: dict | None = None

    @property
    def finished(self) -> bool:
        """Every task learned (status "finished"); a diverged, failed or stopped run is not."""
        return self.status == "finished"

    @property
    def tasks_done(self) -> int:
        return len(self.acc_taw)

    def matrix(self, kind: str = "taw") -> np.ndarray:
        """The (T, T) accuracy matrix, NaN above the diagonal; kind "taw" or "tag"."""
        if kind not in metrics.KINDS:
            raise ValueError(f"kind={kind!r} is not valid: choose 'taw' or 'tag'")
        return square(self.acc_taw if kind == "taw" else self.acc_tag)

    def validation_accuracy(self, kind: str = "taw") -> float | None:
        """Average validation accuracy over the tasks seen, after the last completed task (the
        final average accuracy of the validation matrix); None without a validation split."""
        rows = self.val_taw if kind == "taw" else self.val_tag
        return float(np.mean(np.array(rows[-1], dtype=float))) if rows else None  # a stored null is NaN

    def summary(self, kind: str = "taw") -> dict:
        """Average accuracy and forgetting after each task and their totals (metrics.summarize)."""
        return metrics.summarize(self.matrix(kind))

    def to_frame(self):
        """The accuracy matrices in long form, the shape plotly express and seaborn take: a pandas
        DataFrame with one row per entry acc[t, u] the run completed, columns after_task (t, from
        1), task (u <= t, from 1), kind (taw, tag) and accuracy (a fraction)."""
        import pandas as pd  # only here: nothing else of a run needs pandas

        rows = [{"after_task": t + 1, "task": u + 1, "kind": kind, "accuracy": accuracy}
                for kind in metrics.KINDS for t, row in enumerate(getattr(self, f"acc_{kind}"))
                for u, accuracy in enumerate(row)]
        return pd.DataFrame(rows, columns=["after_task", "task", "kind", "accuracy"])

    def to_dict(self) -> dict:
        return asdict(self)

    def first_tasks(self, n: int) -> dict[str, list]:
        """What the result records of its first `n` tasks, field by field (PER_TASK), NaN and inf
        as None as result.json stores them: two results agree on those tasks when these are equal."""
        return {name: json_safe(getattr(self, name)[:n]) for name in PER_TASK}

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        """The inverse of to_dict; also reads results stored before `status` existed (a
        boolean `finished`). Raises ValueError, naming the field (and row), when `d` is not a
        stored result: a field unknown or missing, or not of the type and shape the runner
        writes (check_shapes); RunDir.result reports it as a StoreError naming the run."""
        if not isinstance(d, dict):
            raise ValueError(f"a result is a JSON object, not {type(d).__name__}")
        d = dict(d)
        if "finished" in d:
            d.setdefault("status", "finished" if d.pop("finished") else "running")
        try:
            result = cls(**d)
        except TypeError as error:
            raise ValueError(f"not a run's result ({error})") from None
        check_shapes(result)
        return result


# ---------------------------------------------------------------- what a stored result must hold


HEAD_STATS = ("weight_norm", "bias_mean", "logit_mean")  # each a list, one number per head
CURVATURE_FIGURES = ("max_eigenvalue", "diagonal_total", "newest_max_eigenvalue", "newest_diagonal_total")


def _is_number(value: object) -> bool:
    """An int or float (a bool is not a number here), NaN and inf included."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_accuracy(value: object) -> bool:
    """A fraction in [0, 1], or None / NaN (what a NaN is stored as, and read back as)."""
    return value is None or (_is_number(value) and (math.isnan(value) or 0 <= value <= 1))


def _is_number_or_none(value: object) -> bool:
    return value is None or _is_number(value)


def _list_of(name: str, value: object, fits: Callable[[object], bool], what: str) -> None:
    """`value` is a list whose every element fits; else ValueError naming `name`, the element
    and `what` it should be."""
    if not isinstance(value, list):
        raise ValueError(f"{name} is a {type(value).__name__}, not a list of {what}")
    for i, element in enumerate(value):
        if not fits(element):
            raise ValueError(f"{name}[{i}] = {short_repr(element, 60)} is not {what}")


def _accuracy_rows(name: str, rows: object) -> None:
    """Row t holds the accuracies on tasks 0..t after task t: t + 1 accuracies."""
    _list_of(name, rows, lambda row: isinstance(row, list), "a row of accuracies (a list)")
    for t, row in enumerate(rows):
        if len(row) != t + 1:
            raise ValueError(f"{name}[{t}] holds {len(row)} accuracies; the row after task {t + 1} holds {t + 1}")
        _list_of(f"{name}[{t}]", row, _is_accuracy, "an accuracy (a number in [0, 1], or null)")


def _head_stats(entry: object) -> bool:
    return isinstance(entry, dict) and all(
        isinstance(entry.get(k), list) and all(_is_number_or_none(v) for v in entry[k]) for k in HEAD_STATS)


def _curvature(entry: object) -> bool:
    return isinstance(entry, dict) and all(_is_number_or_none(entry.get(k, 0)) for k in CURVATURE_FIGURES) \
        and all(k in entry for k in CURVATURE_FIGURES[:2])


def _at_most(name: str, rows: list, limit: int, what: str) -> None:
    if len(rows) > limit:
        raise ValueError(f"{name} holds {len(rows)} entries for {limit} {what}")


def check_shapes(result: RunResult) -> None:
    """ValueError, saying which field and row, unless every field of `result` has the type and
    shape the runner writes: acc_taw row t holds t + 1 accuracies (numbers in [0, 1], or null
    for a NaN), acc_tag has as many rows, shaped alike; val_taw / val_tag likewise, at most one
    row per completed task; epoch_losses rows of numbers or null, at most one more than the
    completed tasks (the task an error ended); task_seconds, head_stats, knn_acc and curvature
    at most one entry per completed task (a run stopped between two of them has one fewer)."""
    if not isinstance(result.config, dict):
        raise ValueError(f"its config is a {type(result.config).__name__}, not a JSON object")
    if result.run_id is not None and not isinstance(result.run_id, str):
        raise ValueError(f"run_id = {short_repr(result.run_id, 60)} is not a string")
    if not isinstance(result.device, str):
        raise ValueError(f"device = {short_repr(result.device, 60)} is not a string")
    if not isinstance(result.status, str) or result.status not in STATUSES:
        raise ValueError(f"status {short_repr(result.status, 60)} is not one of {', '.join(STATUSES)}")
    if result.failure is not None and not isinstance(result.failure, dict):
        raise ValueError(f"failure is a {type(result.failure).__name__}, not a JSON object or null")
    for key in ("message", "traceback"):
        if result.failure and not isinstance(result.failure.get(key, ""), str):
            raise ValueError(f"failure.{key} is a {type(result.failure[key]).__name__}, not a string")
    for name in ("acc_taw", "acc_tag", "val_taw", "val_tag"):
        _accuracy_rows(name, getattr(result, name))
    done = len(result.acc_taw)
    for a, b in (("acc_taw", "acc_tag"), ("val_taw", "val_tag")):
        if len(getattr(result, a)) != len(getattr(result, b)):
            raise ValueError(f"{a} holds {len(getattr(result, a))} rows but {b} {len(getattr(result, b))}")
    _at_most("val_taw", result.val_taw, done, "completed tasks (acc_taw's rows)")
    _list_of("epoch_losses", result.epoch_losses, lambda row: isinstance(row, list), "a row of losses (a list)")
    for t, row in enumerate(result.epoch_losses):
        _list_of(f"epoch_losses[{t}]", row, _is_number_or_none, "a loss (a number or null)")
    _at_most("epoch_losses", result.epoch_losses, done + 1, "completed tasks and the one after")
    _list_of("task_seconds", result.task_seconds, lambda v: _is_number(v) and v >= 0,
             "a number of seconds (>= 0)")
    _list_of("knn_acc", result.knn_acc, _is_accuracy, "an accuracy (a number in [0, 1], or null)")
    _list_of("head_stats", result.head_stats, _head_stats,
             f"a JSON object of {', '.join(HEAD_STATS)}, each a list of numbers")
    _list_of("curvature", result.curvature, _curvature,
             "a JSON object with max_eigenvalue and diagonal_total (numbers or null)")
    for name in ("task_seconds", "knn_acc", "head_stats", "curvature"):
        _at_most(name, getattr(result, name), done, "completed tasks (acc_taw's rows)")
