"""A run's scalars as TensorBoard event files, in its run folder (RunConfig.log "tensorboard"):

    <run folder>/tensorboard/events.out.tfevents.*      tensorboard --logdir data/runs

written from the runner's events, so the training step gains no host sync: the epoch's loss is
already a float when EpochEnded is emitted. The scalars and their steps are
labkit.experiment.run_scalars'; the run's config (the grid's values among them) goes in as hparams
with its final accuracy, so TensorBoard's HParams tab sets a sweep's cells side by side. A run that
diverged or failed ends its log with the text run/status saying so, and a 0 in run/finished where
a finished run has 1."""
from __future__ import annotations

from pathlib import Path

from labkit.experiment.outcome import status_text
from labkit.experiment.events import EpochEnded, Event, RunDiverged, RunFailed, RunFinished, RunStarted, TaskEvaluated
from labkit.experiment.result import RunResult
from labkit.experiment.run_scalars import epoch_scalars, final_scalars, hparams_of, task_scalars

FOLDER = "tensorboard"


class TensorBoardLog:
    """Call it with each of a run's events (labkit.experiment.runner.run's on_event); it reads the
    curvature and head statistics of a task from `result`, which the runner has filled when it
    emits TaskEvaluated."""

    def __init__(self, run_folder: Path, result: RunResult):
        from torch.utils.tensorboard import SummaryWriter  # tensorboard only for runs that log to it

        self.folder = Path(run_folder) / FOLDER
        self.writer = SummaryWriter(str(self.folder))
        self.result = result
        self.epochs = int(result.config["epochs"])

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.writer.add_text("run/config", "\n".join(f"    {k}: {v}" for k, v in hparams_of(event.config).items()))
        elif isinstance(event, EpochEnded):
            self.scalars(*epoch_scalars(event, self.epochs))
        elif isinstance(event, TaskEvaluated):
            self.scalars(*task_scalars(self.result, event.task))
            self.writer.flush()
        elif isinstance(event, (RunFinished, RunDiverged, RunFailed)):
            self.end(event)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def end(self, event: Event) -> None:
        result = self.result
        self.writer.add_text("run/status", status_text(result))
        self.writer.add_scalar("run/finished", float(isinstance(event, RunFinished)), max(result.tasks_done, 1))
        self.writer.add_hparams(hparams_of(result.config), final_scalars(result), run_name=".")
        self.writer.close()
