"""Shared test helpers: a method learned task by task through the runner's own task loop
(labkit.experiment.runner.TaskRunner), so a test can look inside the method between tasks."""
from __future__ import annotations

import torch

from labkit import RunConfig
from labkit.data import load_dataset
from labkit.experiment.result import RunResult
from labkit.experiment.runner import TaskRunner, build_run_model, config_scenario
from labkit.methods import METHODS, TaskContext

QUICK = RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=3, batch_size=32, lr=0.05, device="cpu")


class Stepper:
    """run(config)'s tasks on the CPU, one per call of `learn()` (or `begin()` then `finish()`),
    each learned by the runner's TaskRunner as run() learns it; the model is built without
    pre-trained weights. `result` records them as run()'s result does."""

    def __init__(self, config: RunConfig):
        self.config = config.validate()
        self.scenario = config_scenario(config, load_dataset(config.dataset))
        self.method = METHODS.get(config.method)(**config.method_params)
        self.model = build_run_model(config, self.scenario, self.method, None)
        self.result = RunResult(config=config.to_dict())
        self.tasks = TaskRunner(config, self.scenario, self.method, self.model, torch.device("cpu"), self.result)
        self.t = -1

    def begin(self) -> TaskContext:
        """The next task up to its training: before_task, its head(s) grown, heads_grown."""
        self.t += 1
        return self.tasks.begin(self.t)

    def finish(self, ctx: TaskContext) -> tuple[list[float], list[float]]:
        """The task trained, ended and evaluated: its row of task-aware and task-agnostic accuracy."""
        self.tasks.finish(ctx)
        return self.result.acc_taw[-1], self.result.acc_tag[-1]

    def learn(self) -> tuple[list[float], list[float]]:
        return self.finish(self.begin())


def params_vector(model: torch.nn.Module, prefix: str = "backbone") -> torch.Tensor:
    return torch.cat([p.detach().flatten() for n, p in model.named_parameters() if n.startswith(prefix)])


class Stop(Exception):
    """Stands for a run killed mid-way."""


def stop_after_task(t: int):
    """An on_event callback that kills the run once task t is evaluated (and stored)."""
    def on_event(event):
        if event.type == "task_evaluated" and event.task == t:
            raise Stop("killed")
    return on_event
