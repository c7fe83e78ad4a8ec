"""Typed events a run emits; the store appends them to events.jsonl, the app follows them live."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass
class Event:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    run_id: str | None
    config: dict
    device: str
    num_tasks: int
    start_task: int  # > 0 when a run resumes


@dataclass
class EpochEnded(Event):
    type: ClassVar[str] = "epoch_ended"
    task: int
    epoch: int
    epochs: int
    loss: float
    val_loss: float | None = None
    lr: float | None = None


@dataclass
class TaskEvaluated(Event):
    type: ClassVar[str] = "task_evaluated"
    task: int
    acc_taw: list[float]  # accuracy on tasks 0..task, task-aware
    acc_tag: list[float]  # the same, task-agnostic
    seconds: float


@dataclass
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    run_id: str | None
    summary: dict


@dataclass
class RunFailed(Event):
    """The run ended by an error, or was stopped (error starts with "KeyboardInterrupt")."""
    type: ClassVar[str] = "run_failed"
    run_id: str | None
    error: str
    tasks_done: int


@dataclass
class RunDiverged(Event):
    type: ClassVar[str] = "run_diverged"
    run_id: str | None
    failure: dict  # labkit.experiment.outcome.Diverged.to_dict(): task, epoch, reason, last finite loss
    tasks_done: int
