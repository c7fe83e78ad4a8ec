"""Memory Aware Synapses (Aljundi et al., ECCV 2018), the global version FACIL implements;
formula, protocol and parameters: docs/METHODS.md, section 9."""
from __future__ import annotations

import torch

from labkit.curvature.importance import output_sensitivity
from labkit.methods.base import Param, TaskContext, register
from labkit.methods.ewc import EWC


@register
class MAS(EWC):
    """MAS: loss + quadratic penalty weighted by the output's sensitivity to each parameter.

        L = L_task + (lambda / 2) sum_i Omega_i (theta_i - theta*_i)^2,
        Omega_i = 1/N sum_n | d ||f(x_n)||_2^2 / d theta_i |

    over the task's training inputs, f the outputs the task trains (all heads so far; in
    task-IL the task's own head). No labels are needed, so MAS works with any loss. EWC's
    penalty, anchoring and merging are reused with Omega in place of the Fisher (kept in EWC's
    `fisher` dict): Omega <- alpha Omega_old + (1 - alpha) Omega_new, alpha = 0.5 as in FACIL.

    lambda = 0.01, not FACIL's 1: FACIL differentiates a batch mean of the unsquared norm ||f||,
    an Omega smaller than this per-sample one by a factor of order 2 ||f|| (20 to 100 here).
    This Omega grows with the logits: on digits class-IL (SGD lr 0.05, momentum 0.9) its largest
    entry reaches hundreds, and lambda = 0.1 already diverges (lambda = 1 by the third task).
    """

    name = "mas"
    params = {
        "lamb": Param(0.01, "penalty weight lambda", ge=0,
                      source="chosen here, not FACIL's 1 (src/approach/mas.py line 42): labkit's Omega, a "
                             "per-sample gradient of the squared output norm, exceeds FACIL's, the gradient of the "
                             "batch mean of the unsquared norm (line 75), by a factor of order twice that norm "
                             "(docs/METHODS.md, section 9); tests/methods/test_mas.py checks that at it MAS finishes "
                             "in every scenario and holds the weights nearer their anchor than fine-tuning"),
        "alpha": Param(0.5, "weight of the old importance when merging with the new one", ge=0, le=1,
                       source="FACIL src/approach/mas.py line 45 (--alpha default 0.5)"),
    }

    @classmethod
    def loss_problem(cls, loss: str) -> str | None:
        return super(EWC, cls).loss_problem(loss)  # not EWC's: no likelihood needed

    def importance(self, ctx: TaskContext) -> dict[str, torch.Tensor]:
        return output_sensitivity(ctx.model, ctx.task.train_x, columns=ctx.loss_slice())
