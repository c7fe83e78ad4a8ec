"""Reference solutions of notebook 02's exercises (plain torch, written as a student would)."""
from __future__ import annotations

import torch

from labkit.teaching.exercises.catalogue import PredictedAnswer


def logit_hessian(z):
    p = torch.softmax(z, dim=0)                  # stable: softmax subtracts the largest logit
    return torch.diag(p) - torch.outer(p, p)


def argmax_label_factor(z):
    p = torch.softmax(z, dim=0)
    g = p - torch.nn.functional.one_hot(z.argmax(), len(z)).to(p.dtype)  # grad of -log p_c at c = argmax z
    return torch.outer(g, g)


SOLUTIONS = {
    "02.1": logit_hessian,
    "02.2": PredictedAnswer(
        "larger",
        "At step 0 both runs have the same weights, so the same J_n; only the logit-space factor H differs. "
        "CE's H = diag(p) - p p^T is no larger than diag(p) in any direction, which is no larger than MSE's H = I, "
        "since each p_k <= 1. So J^T H J is smaller under CE for every image, and so is the largest eigenvalue of "
        "the mean. Near the uniform start (p about 1/K) CE's H is about (1/K)(I - 11^T/K), at most 1/K in any "
        "direction: MSE's eigenvalue should be roughly K = 10 times CE's."),
    "02.3": argmax_label_factor,
}
