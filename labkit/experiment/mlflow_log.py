"""A run's parameters and scalars in MLflow (RunConfig.log "mlflow"; the optional extra:
pip install -e ".[mlflow]"), in a local tracking store backed by SQLite beside the run folders:

    <runs folder>/mlflow.db           mlflow ui --backend-store-uri sqlite:///data/runs/mlflow.db

A sweep is one MLflow experiment (its name), a single run goes to the experiment "labkit"; each
labkit run is one MLflow run named by its run id (tag labkit.run_id), found again when it resumes.
Params: the config (labkit.experiment.run_scalars.hparams_of); metrics: run_scalars' names and steps;
at the end the tag labkit.status says how it ended (finished, or diverged / failed and why) and the
MLflow run is FINISHED or FAILED. Written from the runner's events, so the training step gains no
host sync."""
from __future__ import annotations

import time
from pathlib import Path

from labkit.experiment.outcome import status_text
from labkit.experiment.events import EpochEnded, Event, RunDiverged, RunFailed, RunFinished, RunStarted, TaskEvaluated
from labkit.experiment.result import RunResult
from labkit.experiment.run_scalars import epoch_scalars, final_scalars, hparams_of, task_scalars

DATABASE = "mlflow.db"
DEFAULT_EXPERIMENT = "labkit"


def tracking_uri(runs_dir: Path) -> str:
    """The SQLite tracking store of the runs in `runs_dir`."""
    return f"sqlite:///{(Path(runs_dir) / DATABASE).absolute()}"


class MlflowLog:
    """Call it with each of a run's events, as TensorBoardLog."""

    def __init__(self, run_folder: Path, result: RunResult, experiment: str | None = None):
        from mlflow import MlflowClient  # the optional extra, only for runs that log to it

        run_folder = Path(run_folder)
        self.client = MlflowClient(tracking_uri=tracking_uri(run_folder.parent))
        name = experiment or DEFAULT_EXPERIMENT
        found = self.client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else self.client.create_experiment(name)
        earlier = self.client.search_runs([experiment_id], f"tags.`labkit.run_id` = '{run_folder.name}'")
        self.run_id = earlier[0].info.run_id if earlier else self.client.create_run(
            experiment_id, run_name=run_folder.name, tags={"labkit.run_id": run_folder.name}).info.run_id
        self.result, self.epochs = result, int(result.config["epochs"])

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            from mlflow.entities import Param

            self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in hparams_of(event.config).items()])
            self.client.set_tag(self.run_id, "labkit.status", "running")
        elif isinstance(event, EpochEnded):
            self.metrics(*epoch_scalars(event, self.epochs))
        elif isinstance(event, TaskEvaluated):
            self.metrics(*task_scalars(self.result, event.task))
        elif isinstance(event, (RunFinished, RunDiverged, RunFailed)):
            result = self.result
            self.metrics(max(result.tasks_done, 1), final_scalars(result))
            self.client.set_tag(self.run_id, "labkit.status", status_text(result))
            self.client.set_terminated(self.run_id, "FINISHED" if isinstance(event, RunFinished) else "FAILED")

    def metrics(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])
