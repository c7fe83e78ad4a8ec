"""What a run produces: the accuracy matrices as they grow, and the metrics derived from them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from labkit import metrics


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
    the k-NN probe's accuracy on the features after task t (labkit.probe).
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
    finished: bool = False

    @property
    def tasks_done(self) -> int:
        return len(self.acc_taw)

    def matrix(self, kind: str = "taw") -> np.ndarray:
        """The (T, T) accuracy matrix, NaN above the diagonal; kind "taw" or "tag"."""
        if kind not in ("taw", "tag"):
            raise ValueError(f"kind={kind!r} is not valid: choose 'taw' or 'tag'")
        return square(self.acc_taw if kind == "taw" else self.acc_tag)

    def summary(self, kind: str = "taw") -> dict:
        """Average accuracy and forgetting after each task and their totals (metrics.summarize)."""
        return metrics.summarize(self.matrix(kind))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        return cls(**d)
