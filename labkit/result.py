"""What a run produces: the accuracy matrices as they grow, and the metrics derived from them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from labkit import metrics
from labkit.outcome import STATUSES


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
    the k-NN probe's accuracy on the features after task t (labkit.probe). val_taw / val_tag: as
    acc_taw / acc_tag on the validation split (runs with val_fraction > 0; else empty), what
    hyper-parameter search selects on, never the test accuracy. curvature[t]: with
    RunConfig.track_curvature, the Fisher curvature left after task t on the training images of
    tasks 0..t ({"max_eigenvalue", "diagonal_total", "images", "seconds", "likelihood"},
    labkit.curvature.tracking; its seconds are not in task_seconds); else empty. status: how the run
    ended, or "running" (labkit.outcome.STATUSES); failure: for "diverged" and "failed", what
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
        if kind not in ("taw", "tag"):
            raise ValueError(f"kind={kind!r} is not valid: choose 'taw' or 'tag'")
        return square(self.acc_taw if kind == "taw" else self.acc_tag)

    def validation_accuracy(self, kind: str = "taw") -> float | None:
        """Average validation accuracy over the tasks seen, after the last completed task (the
        final average accuracy of the validation matrix); None without a validation split."""
        rows = self.val_taw if kind == "taw" else self.val_tag
        return float(np.mean(rows[-1])) if rows else None

    def summary(self, kind: str = "taw") -> dict:
        """Average accuracy and forgetting after each task and their totals (metrics.summarize)."""
        return metrics.summarize(self.matrix(kind))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        """The inverse of to_dict; also reads results stored before `status` existed (a
        boolean `finished`). Raises ValueError when `d` is not a stored result."""
        if not isinstance(d, dict):
            raise ValueError(f"a result is a JSON object, not {type(d).__name__}")
        d = dict(d)
        if "finished" in d:
            d.setdefault("status", "finished" if d.pop("finished") else "running")
        try:
            result = cls(**d)
        except TypeError as error:
            raise ValueError(f"not a run's result ({error})") from None
        if result.status not in STATUSES:
            raise ValueError(f"status {result.status!r} is not one of {', '.join(STATUSES)}")
        if not isinstance(result.config, dict) or not all(
                isinstance(rows, list) for rows in (result.acc_taw, result.acc_tag, result.epoch_losses)):
            raise ValueError("its config or accuracy rows have the wrong type")
        return result
