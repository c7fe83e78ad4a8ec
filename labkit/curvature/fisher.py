"""Diagonal Fisher information of a classifier's likelihood, from per-sample gradients.

    F_ii = 1/N sum_n ( d/d theta_i  -log p(t_n | x_n, theta) )^2

with torch.func computing one gradient per sample (vmap of grad), so the square is taken of
each sample's gradient, not of a batch mean. The likelihood is the one the training loss is
the negative log of: categorical (softmax CE) or a unit-variance Gaussian on the logits (MSE).
Which targets t_n (`labels`, EWC's `fisher_labels`):
  "true"       the expectation over the model's predictive distribution itself (the true Fisher):
               F_ii = 1/N sum_n sum_c p(c | x_n) (d_i -log p(c | x_n))^2 for a categorical output,
               1/N sum_n sum_k (d_i z_k(x_n))^2 for the unit Gaussian (whose expected outer
               product of residuals is I); one pass per class;
  "sampled"    one label drawn per sample from the model's predictive distribution (a one-sample
               Monte-Carlo estimate of the true Fisher);
  "empirical"  the dataset's labels (the "empirical Fisher");
  "argmax"     the model's most likely label (FACIL's default for EWC).
Configs written before config_version 2 (labkit.config) said "exact" for "true" and "true" for
"empirical"; FISHER_LABELS_RENAMED maps those names, and loading such a config says so.
With MSE, "argmax" (and "empirical" once fitted) vanish as the residual z - alpha e_y goes to
zero; "sampled" and "true" keep the Gaussian's curvature (notebook 02).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from labkit.models.eval_mode import evaluating

FISHER_LABELS = ("true", "sampled", "empirical", "argmax")
# the names before config_version 2 -> today's: "true" meant the dataset's labels, "exact" the true Fisher
FISHER_LABELS_RENAMED = {"true": "empirical", "exact": "true"}


def fisher_targets(logits: torch.Tensor, y: torch.Tensor, labels: str, likelihood: str,
                   onehot_scale: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Target vectors t_n (one row per sample) for a kind of Fisher labels that takes one label
    per sample ("sampled", "empirical", "argmax"; "true" takes every class: weighted_targets)."""
    one_label = [name for name in FISHER_LABELS if name != "true"]
    if labels not in one_label:
        raise ValueError(f"labels={labels!r} is not valid: choose one of {', '.join(one_label)}")
    k = logits.shape[-1]
    if labels == "sampled" and likelihood == "gaussian":
        noise = torch.randn(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        return logits + noise
    if labels == "sampled":
        y = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1)
    elif labels == "argmax":
        y = logits.argmax(-1)
    return onehot_scale * F.one_hot(y, k).to(logits.dtype)


def weighted_targets(logits: torch.Tensor, y: torch.Tensor, labels: str, likelihood: str, onehot_scale: float,
                     generator: torch.Generator | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight per sample, targets) pairs whose weighted squared gradients sum to the Fisher:
    one pair of weight 1 for a single label per sample; for "true", one per class c, weighted
    p(c | x) (categorical), or with targets z - e_c so that the gradient is d z_c (Gaussian)."""
    ones = logits.new_ones(len(logits))
    if labels != "true":
        return [(ones, fisher_targets(logits, y, labels, likelihood, onehot_scale, generator))]
    eye = torch.eye(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    if likelihood == "gaussian":
        return [(ones, logits - eye[c]) for c in range(len(eye))]
    p = torch.softmax(logits, -1)
    return [(p[:, c], onehot_scale * eye[c].expand_as(logits)) for c in range(len(eye))]


def negative_log_likelihood(logits: torch.Tensor, target: torch.Tensor, likelihood: str) -> torch.Tensor:
    """-log p(t | z) up to a constant: categorical -sum_k t_k log softmax(z)_k, or Gaussian
    0.5 ||z - t||^2."""
    if likelihood == "categorical":
        return -(target * torch.log_softmax(logits, -1)).sum(-1)
    if likelihood == "gaussian":
        return 0.5 * ((logits - target) ** 2).sum(-1)
    raise ValueError(f"likelihood={likelihood!r} is not valid: choose 'categorical' or 'gaussian'")


def diagonal_fisher(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, likelihood: str,
                    labels: str = "empirical", columns: slice = slice(0, None), onehot_scale: float = 1.0,
                    batch_size: int = 256, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The diagonal Fisher of every trainable parameter of `model` over the samples (x, y).

    model(x) gives the concatenated logits; `columns` picks the ones the likelihood is over
    (a task-IL task's own head), and y must already be relative to them. The model is in
    eval mode meanwhile (batch-norm uses running statistics; labkit.models.eval_mode.evaluating).
    """
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def sample_nll(p, xi, ti):
        logits = functional_call(model, (p, buffers), (xi.unsqueeze(0),))[0, columns]
        return negative_log_likelihood(logits, ti, likelihood)

    per_sample_grads = vmap(grad(sample_nll), in_dims=(None, 0, 0))
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    with evaluating(model):
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            with torch.no_grad():
                logits = model(xb)[:, columns]
            for weight, targets in weighted_targets(logits, yb, labels, likelihood, onehot_scale, generator):
                for n, g in per_sample_grads(params, xb, targets).items():
                    fisher[n] += torch.einsum("b,b...->...", weight, g ** 2)
    return {n: f / len(x) for n, f in fisher.items()}
