"""Shared test helpers: a method learned task by task through the runner's own pieces, so a test
can look inside the method between tasks."""
from __future__ import annotations

import torch

from labkit import RunConfig
from labkit.data import load_dataset, make_scenario
from labkit.experiment.runner import build_run_model, evaluate, grow_heads, seed_task, train_task
from labkit.losses import LOSSES
from labkit.methods import METHODS, TaskContext

QUICK = RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=3, batch_size=32, lr=0.05, device="cpu")


class Stepper:
    """The runner's task loop, one task per call of `learn()`."""

    def __init__(self, config: RunConfig):
        self.config = config.validate()
        self.scenario = make_scenario(load_dataset(config.dataset), config.scenario, config.tasks, config.seed)
        self.method = METHODS.get(config.method)(**config.method_params)
        self.model = build_run_model(config, self.scenario, self.method, None)
        self.t = -1

    def context(self, t: int) -> TaskContext:
        return TaskContext(self.model, self.scenario, t, LOSSES.get(self.config.loss), torch.device("cpu"))

    def begin(self) -> TaskContext:
        """before_task and head growth of the next task, without training."""
        self.t += 1
        seed_task(self.config.seed, self.t)
        ctx = self.context(self.t)
        self.method.before_task(ctx)
        grow_heads(self.model, self.scenario, self.t)
        self.method.heads_grown(ctx)
        return ctx

    def finish(self, ctx: TaskContext) -> tuple[list[float], list[float]]:
        train_task(self.config, self.method, ctx, lambda event: None)
        self.method.after_task(ctx)
        return evaluate(self.model, self.scenario, ctx.t, ctx.loss)[:2]

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
