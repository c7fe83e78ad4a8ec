"""Reference solutions of notebook 03's exercises (plain torch, written as a student would)."""
from __future__ import annotations

import torch


def taylor_model(f, theta0, theta):
    f0, change = torch.func.jvp(f, (theta0,), (theta - theta0,))  # f(theta0) and J(theta0) (theta - theta0)
    return f0 + change


def second_order_model(loss_at_anchor, gradient, hessian, anchor, v):
    d = v - anchor
    return loss_at_anchor + gradient @ d + 0.5 * d @ hessian @ d


def kfac_block(inputs, output_grads):
    n = len(inputs)
    a = torch.cat([inputs, torch.ones(n, 1, dtype=inputs.dtype)], dim=1)  # a trailing 1 for the bias
    A = a.T @ a / n                          # E[a a^T]
    G = output_grads.T @ output_grads / n    # E[g g^T]
    return torch.kron(A, G)


SOLUTIONS = {"03.1": taylor_model, "03.2": second_order_model, "03.3": kfac_block}
