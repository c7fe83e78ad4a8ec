"""DER++ (Buzzega et al., NeurIPS 2020): Dark Experience Replay plus replayed labels."""
from __future__ import annotations

import torch

from labkit.methods.base import Param, TaskContext, register
from labkit.methods.der import DER


@register
class DERpp(DER):
    """DER++: DER + beta * task loss of a second replayed batch with its labels.

        L = L_task(x, y) + alpha * MSE(z(x_m), z_m) + beta * L_task(x_m', y_m'),

    the logit term as in DER, and the task loss of a second, independently drawn batch of
    remembered examples with their labels. alpha 0.3, beta 0.5: common CIFAR-100 settings.
    Term by term Mammoth's `derpp` (three separate means); the logit term differs from Mammoth's
    only as DER's does (per-task heads: the mean over the stored columns, see DER).
    """

    name = "derpp"
    params = {**DER.params, "beta": Param(0.5, "weight beta of the replayed labels' task loss", ge=0)}

    def replay_loss(self, ctx: TaskContext, n: int) -> torch.Tensor:
        return super().replay_loss(ctx, n) + self.beta * self.label_replay(ctx, n)
