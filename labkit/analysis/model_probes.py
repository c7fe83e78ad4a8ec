"""Probes of a run's model as it was after each task: which head wins the task-agnostic argmax,
and how each head splits its own task's test images.

Which head wins. The task-agnostic prediction is the argmax over all heads' logits, so head k
wins a sample when its largest logit max_c z_kc beats every other head's. A head's *mean* logit
(over its classes and the samples) does not decide that: a head with one high and one very low
logit has a low mean and still wins. What does is a max, or its smooth form the log-sum-exp
LSE(z_k) = log sum_c exp z_kc (max_c z_kc <= LSE(z_k) <= max_c z_kc + log |head k|), and the
softmax mass on head k, M_k = sum_{c in k} softmax(z)_c = softmax_k(LSE(z_1), ..., LSE(z_n)),
the task mass of notebook 01 at temperature 1. Per image, the head of largest mass is the head
of largest LSE, and since a head's LSE splits as LSE(z_k) = mean_c z_kc + LSE(z_k - mean_c z_kc)
(its offset plus its confidence, the spread of its logits), a confident head can win with a low
offset. `winner_agreement` counts, image by image, how often each of the two picks the winner.

How a head splits its task. split[a][b] = share of task u's test images of class a that head u
alone (task-aware) gives to class b. With two balanced classes, task-aware accuracy is
(split[0][0] + split[1][1]) / 2 = 1/2 + (split[0][0] - split[1][0]) / 2: it is below chance
exactly when the head gives class 0 more often to images of class 1 than to images of class 0.

`inspected_run` runs a config (labkit.experiment.checkpointed_run) and, after every task, calls a probe on
the model rebuilt from that task's checkpoint.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from labkit.config import RunConfig
from labkit.data import Scenario, load_dataset
from labkit.experiment.checkpointed_run import model_from_task_state, run_with_task_states
from labkit.experiment.events import Event
from labkit.experiment.result import RunResult
from labkit.experiment.runner import config_scenario
from labkit.models import IncrementalNet
from labkit.errors import ConfigError

Probe = Callable[[IncrementalNet, Scenario, int], Any]


@torch.no_grad()
def head_scores(model: IncrementalNet, scenario: Scenario, t: int, batch_size: int = 1024) -> dict[str, list[float]]:
    """Per head k, over the test images of tasks 0..t: "logit_mean" (mean of z_kc over classes
    and images), "lse_mean" (mean of LSE(z_k)), "mass" (mean of M_k) and "wins" (share of the
    images whose argmax over all heads falls in head k; the wins sum to 1)."""
    model.eval()
    x = torch.cat([task.test_x for task in scenario.tasks[: t + 1]])
    logit_sum, lse_sum, mass_sum, wins = 0.0, 0.0, 0.0, 0.0
    for start in range(0, len(x), batch_size):
        heads = model.head_logits(x[start:start + batch_size])
        lse = torch.stack([z.logsumexp(dim=1) for z in heads], dim=1)
        winner = torch.stack([z.max(dim=1).values for z in heads], dim=1).argmax(dim=1)
        logit_sum = logit_sum + torch.stack([z.mean(dim=1) for z in heads], dim=1).sum(0)
        lse_sum, mass_sum = lse_sum + lse.sum(0), mass_sum + lse.softmax(dim=1).sum(0)
        wins = wins + torch.bincount(winner, minlength=len(heads))
    return {name: (total / len(x)).tolist() for name, total in
            (("logit_mean", logit_sum), ("lse_mean", lse_sum), ("mass", mass_sum), ("wins", wins))}


@torch.no_grad()
def winner_agreement(model: IncrementalNet, scenario: Scenario, t: int, batch_size: int = 1024) -> dict[str, float]:
    """Over the test images of tasks 0..t, the share of images whose task-agnostic winner (the
    head holding the largest logit) is also: "mass", the head of largest task mass
    M_k = softmax_k(LSE(z_1), ..., LSE(z_n)) (the head of largest LSE); "offset", the head of
    largest mean logit mean_c z_kc on that image; "confidence", the head of largest
    LSE(z_k - mean_c z_kc)."""
    model.eval()
    x = torch.cat([task.test_x for task in scenario.tasks[: t + 1]])
    hits = {"mass": 0, "offset": 0, "confidence": 0}
    for start in range(0, len(x), batch_size):
        heads = model.head_logits(x[start:start + batch_size])
        winner = torch.stack([z.max(dim=1).values for z in heads], dim=1).argmax(dim=1)
        offset = torch.stack([z.mean(dim=1) for z in heads], dim=1)
        lse = torch.stack([z.logsumexp(dim=1) for z in heads], dim=1)
        for name, score in (("mass", lse), ("offset", offset), ("confidence", lse - offset)):
            hits[name] += int((score.argmax(dim=1) == winner).sum())
    return {name: count / len(x) for name, count in hits.items()}


@torch.no_grad()
def head_splits(model: IncrementalNet, scenario: Scenario, t: int) -> list[list[list[float]]]:
    """For each task u <= t, split[a][b]: the share of task u's test images of its class a that
    head u alone gives to its class b (rows sum to 1; a class without test images gets a row of
    zeros). In data-IL the one head is head u's."""
    model.eval()
    splits = []
    for u, task in enumerate(scenario.tasks[: t + 1]):
        head = model.head_logits(task.test_x)[u if scenario.multi_head else 0]
        local_y = task.test_y - (task.offset if scenario.multi_head else 0)
        k = head.shape[1]
        counts = torch.zeros(k, k).index_put_((local_y, head.argmax(1)), torch.ones(len(local_y)), accumulate=True)
        splits.append((counts / counts.sum(1, keepdim=True).clamp(min=1)).tolist())
    return splits


def inspected_run(config: RunConfig, probe: Probe,
                  on_event: Callable[[Event], None] | None = None) -> tuple[RunResult, list[Any]]:
    """run(config) and probe(model, scenario, t) on the model as it was after each task t.

    The run keeps its checkpoint in a temporary folder (removed at the end); after each task the
    model is rebuilt on the CPU from it, next to the run's scenario, and probed. The run itself
    is the ordinary one (same seed, same numbers). Runs with a pre-trained backbone are refused
    (their training split is not rebuilt here)."""
    config.validate()
    if config.pretrained:
        raise ConfigError("pretrained", config.pretrained, "'' (inspected_run rebuilds runs without pre-training)")
    scenario = config_scenario(config, load_dataset(config.dataset, config.data_root))
    probed: list[Any] = []
    result = run_with_task_states(
        config, lambda t, task_state: probed.append(probe(model_from_task_state(config, scenario, task_state),
                                                          scenario, t)), on_event)
    return result, probed

