"""Learning without Forgetting (Li & Hoiem 2016), as in FACIL, with the five softmax remedies of
"Rethinking softmax" as variants lwf-s, lwf-sr, lwf-br, lwf-br2, lwf-bsr (softmax_remedies.py).
Formula, protocol and parameters: docs/METHODS.md, section 4 (the variants: section 7)."""
from __future__ import annotations

from typing import ClassVar

import torch

from labkit.methods.base import Method, Param, TaskContext, frozen_copy
from labkit.methods.softmax_remedies import REMEDIES, Remedy, register_variants


class LwF(Method):
    """LwF: classification loss + lambda * KD_T(z_old, z_old^teacher), joint KD over old heads.

        L = L_CE(current task) + lambda * CE(p_T(z^o_{<t}), p_T(z_{<t}))

    The teacher is the model as it was after the previous task, frozen. LwF is defined with
    softmax cross-entropy (its distillation matches softmax outputs), so it takes only "ce".
    A variant replaces the distillation by the weighted terms of its Remedy.
    """

    name = "lwf"
    remedy: ClassVar[Remedy] = REMEDIES[""]
    losses = ("ce",)
    params = {
        "lamb": Param(1.0, "weight lambda of the distillation terms", ge=0,
                      source="FACIL src/approach/lwf.py line 38 (--lamb default 1); the Rethinking authors' "
                             "src/approach/lwf-*.py line 38 keep it"),
        "T": Param(2.0, "distillation temperature", gt=0,
                   source="LwF paper p. 5 (T = 2 by grid search), quoted in FACIL src/approach/lwf.py lines 40-42 "
                          "(--T default 2); the Rethinking authors' src/approach/lwf-*.py line 42 keep it"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.teacher: torch.nn.Module | None = None

    def before_task(self, ctx: TaskContext) -> None:
        self.teacher = None
        if ctx.t > 0:
            self.teacher = frozen_copy(ctx.model)

    def distillation(self, ctx: TaskContext, x: torch.Tensor, student: list[torch.Tensor]) -> torch.Tensor:
        """The remedy's distillation terms between the student's and the teacher's old heads on x."""
        with torch.no_grad():
            teacher = self.teacher.head_logits(x)
        return self.remedy.distillation(ctx.old_heads(student), ctx.old_heads(teacher), self.T)

    def prediction_loss(self, ctx: TaskContext, out: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """L_CE on the current task, plus the remedy's BCE prediction term on the current head."""
        loss = ctx.task_loss(out, y)
        if self.remedy.prediction:
            current = out[ctx.t] if ctx.scenario.multi_head else out[0]
            loss = loss + self.remedy.prediction_term(current, y - ctx.task.offset)
        return loss

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = ctx.model.head_logits(x)
        loss = self.prediction_loss(ctx, out, y)
        if self.teacher is None:
            return loss
        return loss + self.lamb * self.distillation(ctx, x, out)


register_variants(LwF)
