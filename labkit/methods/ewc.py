"""Elastic Weight Consolidation (Kirkpatrick et al. 2017) with a diagonal Fisher."""
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
    # lamb: SGD with rate lr and momentum beta is stable on the penalty's curvature lambda F_i only
    # while lr * lambda * F_i < 2 (1 + beta) (76 / lambda at the defaults, SGD 0.05 and 0.9), and the
    # argmax Fisher's largest entry on digits reaches about 1 (class-IL, mlp). FACIL's 5000 (set for its
    # SGD 0.1 on large networks, whose Fisher entries are far smaller) diverged in 6 of seeds 0-9 at
    # the defaults. Of 10, 30, 100, 300, 1000 and 5000 on digits class-IL (5 tasks, 5 epochs), 100 is
    # the largest that trained on all of seeds 0-39, with a 10% validation split and without (300: 1
    # of 40 diverged), and the best on validation among those (task-aware 61.1%; 30: 59.8, 10: 59.0).
    params = {
        "lamb": Param(100.0, "penalty weight lambda (100: the largest stable at the default SGD rate on "
                      "digits, chosen on validation; FACIL's 5000 diverges there, see labkit.methods.ewc)", ge=0),
        "alpha": Param(0.5, "weight of the old Fisher when merging with the new one", ge=0, le=1),
        # argmax: FACIL's default (its EWC takes the Fisher at the model's predicted labels)
        "fisher_labels": Param("argmax", "labels the Fisher is taken at: true (every label, weighted by the "
                               "model's predictive distribution: the true Fisher), sampled (one label drawn from "
                               "it), empirical (the dataset's labels), argmax (the model's most likely label)",
                               FISHER_LABELS, renamed={2: FISHER_LABELS_RENAMED}),
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
