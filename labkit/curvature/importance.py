"""MAS parameter importance (Aljundi et al., ECCV 2018): how sensitive the learned function's
output is to each parameter, from per-sample gradients and without labels.

    Omega_i = 1/N sum_n | d ||f(x_n; theta)||_2^2 / d theta_i |

torch.func computes one gradient per sample (vmap of grad), so the absolute value is taken of
each sample's gradient, as the paper's Eq. 2 has it. (FACIL instead takes |gradient| of a batch
mean of the unsquared norm ||f(x)||_2.)
"""
from __future__ import annotations

import torch
from torch.func import functional_call, grad, vmap

from labkit.models.eval_mode import evaluating


def output_sensitivity(model: torch.nn.Module, x: torch.Tensor, *, columns: slice = slice(0, None),
                       batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Omega of every trainable parameter of `model` over the inputs x.

    model(x) gives the concatenated logits; `columns` picks the outputs f(x) whose squared norm
    is differentiated (a task-IL task's own head). The model is in eval mode meanwhile (batch-norm
    uses running statistics; labkit.models.eval_mode.evaluating).
    """
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def squared_output_norm(p, xi):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))[0, columns]
        return (out ** 2).sum()

    per_sample_grads = vmap(grad(squared_output_norm), in_dims=(None, 0))
    omega = {n: torch.zeros_like(p) for n, p in params.items()}
    with evaluating(model):
        for start in range(0, len(x), batch_size):
            for n, g in per_sample_grads(params, x[start:start + batch_size]).items():
                omega[n] += g.abs().sum(0)
    return {n: o / len(x) for n, o in omega.items()}
