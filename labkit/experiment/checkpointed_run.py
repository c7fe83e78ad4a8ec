"""An ordinary run whose state after every task is handed to the caller: the run writes labkit's
own checkpoint (model, method state, result) to a temporary run folder, and after each task
that checkpoint is read back and given to `on_task(t, task_state)`. The run's numbers are those
of `labkit.experiment.runner.run(config)`; only the folder is thrown away at the end. Notebooks use it to
look inside a model as it was after each task (which head wins, Grad-CAM maps, EWC's Fisher)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import torch

from labkit.config import RunConfig
from labkit.data import Scenario
from labkit.experiment.events import Event, TaskEvaluated
from labkit.experiment.result import RunResult
from labkit.experiment.runner import build_run_model, restore_model, run
from labkit.experiment.store import RunDir
from labkit.methods import METHODS
from labkit.models import IncrementalNet


def run_with_task_states(config: RunConfig, on_task: Callable[[int, dict], None],
                         on_event: Callable[[Event], None] | None = None) -> RunResult:
    """run(config), calling on_task(t, task_state) once task t is evaluated (its checkpoint on disk)."""
    with tempfile.TemporaryDirectory(prefix="labkit-checkpoints-") as folder:
        run_dir = RunDir.create(config.to_dict(), Path(folder))

        def listen(event: Event) -> None:
            if isinstance(event, TaskEvaluated):
                on_task(event.task, run_dir.load_checkpoint())
            if on_event is not None:
                on_event(event)

        return run(config, listen, run_dir=run_dir)


def model_from_task_state(config: RunConfig, scenario: Scenario, task_state: dict) -> IncrementalNet:
    """The model a task state holds (heads grown to its task), in eval mode on the CPU; for runs
    whose method keeps the built model's shape (not DLCFT's linearised one)."""
    with torch.random.fork_rng(devices=[]):  # building a model seeds torch: leave the caller's stream alone
        model = build_run_model(config.replace(compile=False), scenario,
                                METHODS.get(config.method)(**config.method_params), None)
    restore_model(task_state, model, scenario, config.head_layout)  # as a resumed run restores it
    return model.eval()
