"""Learning without Forgetting (Li & Hoiem 2016), as in FACIL and METHODS.md section 1."""
from __future__ import annotations

import copy

import torch

from labkit.losses import joint_kd
from labkit.methods.base import Method, Param, TaskContext, register


@register
class LwF(Method):
    """LwF: classification loss + lambda * KD_T(z_old, z_old^teacher), joint KD over old heads.

        L = L_CE(current task) + lambda * CE(p_T(z^o_{<t}), p_T(z_{<t}))

    The teacher is the model as it was after the previous task, frozen. LwF is defined with
    softmax cross-entropy (its distillation matches softmax outputs), so it takes only "ce".
    """

    name = "lwf"
    losses = ("ce",)
    params = {
        "lamb": Param(1.0, "weight lambda of the distillation term"),
        "T": Param(2.0, "distillation temperature"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.teacher: torch.nn.Module | None = None

    def before_task(self, ctx: TaskContext) -> None:
        self.teacher = None
        if ctx.t > 0:
            self.teacher = copy.deepcopy(ctx.model).eval().requires_grad_(False)

    def distillation(self, ctx: TaskContext, x: torch.Tensor, student: list[torch.Tensor]) -> torch.Tensor:
        """KD_T between the student's and the teacher's old outputs on batch x."""
        with torch.no_grad():
            teacher = self.teacher.head_logits(x)
        return joint_kd(ctx.old_logits(student), ctx.old_logits(teacher), T=self.T)

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = ctx.model.head_logits(x)
        loss = ctx.task_loss(out, y)
        if self.teacher is None:
            return loss
        return loss + self.lamb * self.distillation(ctx, x, out)
