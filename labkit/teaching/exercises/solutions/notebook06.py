"""Reference solutions of notebook 06's exercises (plain torch, written as a student would)."""
from __future__ import annotations

import torch

from labkit.teaching.exercises.catalogue import PredictedAnswer
from labkit.teaching.exercises.notebook06 import WHY_LEAD


def sparsemax_fy_loss(z, y):
    from labkit.losses import sparsemax

    p = sparsemax(z)                                                # the map of Omega(p) = 0.5 ||p||^2 on the simplex
    conjugate = (z * p).sum(1) - 0.5 * (p * p).sum(1)               # Omega*(z) = <z, p> - Omega(p)
    z_y = z.gather(1, y[:, None]).squeeze(1)                        # <z, e_y>
    return (conjugate + 0.5 - z_y).mean()                           # + Omega(e_y) = 0.5; mean over the batch


def fy_gradient(predict, z, y):
    onehot = torch.nn.functional.one_hot(y, z.shape[1]).to(z.dtype)
    return (predict(z) - onehot) / len(z)                           # prediction minus target, / B for the batch mean


SOLUTIONS = {"06.1": sparsemax_fy_loss, "06.2": fy_gradient, "06.3": PredictedAnswer("smaller", WHY_LEAD)}
