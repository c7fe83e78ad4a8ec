"""Joint training: the upper bound, retraining on every task seen so far (docs/METHODS.md, section 3)."""
from __future__ import annotations

import torch

from labkit.methods.base import Method, TaskContext, register


@register
class Joint(Method):
    """Joint: at task t, train on the union of tasks 0..t (incremental joint training)."""

    name = "joint"

    def training_data(self, ctx: TaskContext) -> tuple[torch.Tensor, torch.Tensor]:
        seen = ctx.scenario.tasks[: ctx.t + 1]
        return torch.cat([t.train_x for t in seen]), torch.cat([t.train_y for t in seen])
