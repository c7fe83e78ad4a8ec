"""Elastic Weight Consolidation (Kirkpatrick et al. 2017) with a diagonal Fisher; formula, protocol
and parameters (why lambda is 100 here): docs/METHODS.md, section 8."""
from __future__ import annotations

import torch

from labkit.curvature import FISHER_LABELS, FISHER_LABELS_RENAMED, diagonal_fisher
from labkit.losses import LOSSES
from labkit.methods.base import Method, Param, TaskContext, register


@register
class EWC(Method):
    """EWC: classification loss + (lambda / 2) sum_i F_i (theta_i - theta*_i)^2.

    After each task, F is the diagonal Fisher on that task's training data (labels chosen by
    `fisher_labels`) and theta* the parameters reached. Fishers of successive tasks are merged
    as F <- alpha F_old + (1 - alpha) F_new (FACIL's online form; the first task's F is taken
    as it is). Every parameter present at the end of a task is anchored: backbone and the heads
    seen so far (a head added later has no Fisher yet and is free).
    """

    name = "ewc"
    autocast_safe = False  # the quadratic penalty's small differences need fp32
    params = {
        "lamb": Param(100.0, "penalty weight lambda", ge=0,
                      source="chosen here, not FACIL's 5000 (src/approach/ewc.py line 43, set for SGD 0.1 on large "
                             "networks): the largest of 10, 30, 100, 300, 1000 and 5000 that trained digits class-IL "
                             "at RunConfig's SGD 0.05 and momentum 0.9, on whose penalty SGD is stable only while "
                             "lr * lamb * F_max < 2 (1 + momentum) (docs/METHODS.md, section 8); "
                             "tests/protocols/test_defaults_learn.py::test_ewc_defaults_and_the_readme_runs_train_on_"
                             "every_seed checks that it trains on seeds 0-9"),
        "alpha": Param(0.5, "weight of the old Fisher when merging with the new one", ge=0, le=1,
                       source="FACIL src/approach/ewc.py lines 45-46 (--alpha default 0.5, 'a 50-50 fusion')"),
        "fisher_labels": Param("argmax", "labels the Fisher is taken at: true (every label, weighted by the "
                               "model's predictive distribution: the true Fisher), sampled (one label drawn from "
                               "it), empirical (the dataset's labels), argmax (the model's most likely label)",
                               FISHER_LABELS, renamed={2: FISHER_LABELS_RENAMED},
                               source="FACIL src/approach/ewc.py line 48 (--fi-sampling-type default 'max_pred': "
                                      "the model's predicted label)"),
    }

    @classmethod
    def loss_problem(cls, loss: str) -> str | None:
        if LOSSES.get(loss).likelihood is None:
            likelihoods = [n for n in LOSSES if LOSSES.get(n).likelihood]
            return (f"EWC's Fisher needs a loss that is a negative log-likelihood: one of "
                    f"{', '.join(likelihoods)}")
        return super().loss_problem(loss)

    def __init__(self, **params):
        super().__init__(**params)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def penalty(self, model: torch.nn.Module) -> torch.Tensor:
        """(lambda / 2) sum_i F_i (theta_i - theta*_i)^2 over the anchored parameters."""
        total = next(model.parameters()).new_zeros(())
        for name, p in model.named_parameters():
            if name in self.fisher:
                total = total + (self.fisher[name] * (p - self.anchor[name]) ** 2).sum()
        return 0.5 * self.lamb * total

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = super().training_loss(ctx, x, y)
        return loss + self.penalty(ctx.model) if self.fisher else loss

    def importance(self, ctx: TaskContext) -> dict[str, torch.Tensor]:
        """Per-parameter weights of the penalty from the task just learned: the diagonal Fisher."""
        columns = ctx.loss_slice()
        y = ctx.task.train_y - (columns.start or 0)
        return diagonal_fisher(ctx.model, ctx.task.train_x, y, likelihood=ctx.loss.likelihood,
                               labels=self.fisher_labels, columns=columns,
                               onehot_scale=ctx.loss.onehot_scale)

    def after_task(self, ctx: TaskContext) -> None:
        for name, f in self.importance(ctx).items():
            old = self.fisher.get(name)
            self.fisher[name] = f if old is None else self.alpha * old + (1 - self.alpha) * f
        self.anchor = {n: p.detach().clone() for n, p in ctx.model.named_parameters()
                       if n in self.fisher}

    def state_dict(self) -> dict:
        return {"fisher": self.fisher, "anchor": self.anchor}

    def load_state_dict(self, state: dict) -> None:
        self.fisher, self.anchor = dict(state["fisher"]), dict(state["anchor"])
