"""Mammoth's head arrangement for class-IL (head_layout "all-classes"): one head over every class
from the first task, the class-IL loss over all of them, DER storing every class's logit, and the
arrangement refused where its methods or scenario do not fit."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from labkit import RunConfig, run
from labkit.data import load_dataset
from labkit.experiment.checkpointed_run import run_with_task_states
from labkit.experiment.runner import build_run_model, config_scenario, grow_heads
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.methods.base import TaskContext
from labkit.errors import ConfigError

BASE = RunConfig(dataset="digits", scenario="class-il", tasks=3, epochs=1, device="cpu", knn_k=0,
                 head_layout="all-classes")


def test_one_head_over_every_class_from_the_first_task_and_the_loss_over_all_of_them():
    scenario = config_scenario(BASE, load_dataset("digits", "data"))
    model = build_run_model(BASE, scenario, METHODS.get("finetune")(), None)
    for t in range(BASE.tasks):
        grow_heads(model, scenario, t, BASE.head_layout)
    assert model.heads.sizes == [10]
    ctx = TaskContext(model, scenario, 0, LOSSES.get("ce"), torch.device("cpu"))
    x, y = scenario.tasks[0].train_x[:16], scenario.tasks[0].train_y[:16]
    logits = model(x)
    assert logits.shape == (16, 10)
    assert torch.allclose(ctx.task_loss(model.head_logits(x), y), F.cross_entropy(logits, y))


def test_the_loss_over_all_classes_pushes_the_future_classes_logits_down():
    seen = []
    run_with_task_states(BASE.replace(tasks=5, epochs=3), lambda t, c: seen.append(c) if t == 0 else None)
    scenario = config_scenario(BASE.replace(tasks=5), load_dataset("digits", "data"))
    from labkit.experiment.checkpointed_run import model_from_task_state

    model = model_from_task_state(BASE.replace(tasks=5), scenario, seen[0])
    with torch.no_grad():
        logits = model(scenario.tasks[0].test_x)
    # after task 1 (classes 0-1 in incremental labels) the eight future classes sit below the two learned ones
    assert logits[:, 2:].max(dim=1).values.mean() < logits[:, :2].max(dim=1).values.mean()


def test_der_stores_every_class_s_logit_and_grows_no_columns():
    method = METHODS.get("der")(buffer_size=50)
    config = BASE.replace(method="der")
    result = run(config)
    assert result.finished and len(result.head_stats[-1]["logit_mean"]) == 1  # one head throughout
    scenario = config_scenario(config, load_dataset("digits", "data"))
    model = build_run_model(config, scenario, method, None)
    grow_heads(model, scenario, 0, "all-classes")
    ctx = TaskContext(model, scenario, 0, LOSSES.get("ce"), torch.device("cpu"))
    x, y = scenario.tasks[0].train_x[:8], scenario.tasks[0].train_y[:8]
    method.training_loss(ctx, x, y)
    method.after_step(ctx, x, y)  # the batch is stored after its step
    assert method.buffer.sample(4)[2].shape[1] == 10
    method.heads_grown(TaskContext(model, scenario, 1, LOSSES.get("ce"), torch.device("cpu")))
    assert method.buffer.sample(4)[2].shape[1] == 10


@pytest.mark.parametrize("method", ["er", "derpp", "joint"])
def test_mammoth_s_replay_baselines_run_with_one_head(method):
    result = run(BASE.replace(method=method, tasks=2))
    assert result.finished and [len(row) for row in result.acc_tag] == [1, 2]


@pytest.mark.parametrize("changes, field", [({"scenario": "task-il"}, "scenario"), ({"method": "lwf"}, "method"),
                                            ({"freeze_old_heads": True}, "freeze_old_heads"),
                                            ({"head_layout": "one"}, "head_layout")])
def test_the_arrangement_is_refused_where_it_does_not_fit(changes, field):
    with pytest.raises(ConfigError) as error:
        BASE.replace(**changes).validate()
    assert error.value.field == field
