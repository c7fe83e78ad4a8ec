"""DER++ (Buzzega et al., NeurIPS 2020): Dark Experience Replay plus replayed labels
(docs/METHODS.md, section 12)."""
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
    only as DER's does (per-task heads: the mean over the stored columns, see DER). The order of
    a step is DER's: (a) both replayed batches drawn from the memory as it was before the step,
    (b) the runner's optimiser step, (c) after_step stores (x, y, z(x)) (Mammoth's add_data after
    opt.step()).
    """

    name = "derpp"
    params = {**DER.params,
              "alpha": Param(0.3, "weight alpha of the logit-matching term", ge=0,
                             source="Mammoth models/config/derpp.yaml lines 1-4 (seq-cifar100, buffer 500: alpha 0.3)"),
              "beta": Param(0.5, "weight beta of the replayed labels' task loss", ge=0,
                            source="Mammoth models/config/derpp.yaml line 5 (seq-cifar100, buffer 500: beta 0.5)")}

    def replay_loss(self, ctx: TaskContext, n: int) -> torch.Tensor:
        return super().replay_loss(ctx, n) + self.beta * self.label_replay(ctx, n)
