"""How far the sampled-softmax gradient is from the full softmax's (notebook 06, section 4; the
softmax-family paper's bias-variance analysis, docs/PAPERS.md section 2).

A problem with many classes: N classes with Zipf frequencies f_k ~ 1/k, an output layer
W (N x d) of random rows whose bias is log f (as a trained model's would be), B hidden states h
and targets drawn from f. The full softmax CE's gradient g* = d CE / dW is exact; R sampled
estimates g_r (m classes drawn from a proposal q, with or without the -log(m q_k) correction)
give

    relative bias     = || mean_r g_r - g* || / || g* ||
    relative variance = mean_r || g_r - mean_r g_r ||^2 / || g* ||^2
    noise floor       = sqrt(variance / R) / || g* ||   (the bias R draws can resolve)

With the correction, bias and variance shrink roughly as 1/m (a constant that grows with the
chi-square divergence between the model's softmax and q; q = the softmax itself is unbiased
but for the draws that hit the target); without it, the estimator converges to the gradient of
another loss, so its bias does not shrink with m.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from labkit.losses import (Proposal, frequency_proposal, linear_class_logits, model_proposal, sampled_softmax_loss,
                           uniform_proposal)
from labkit.losses.sampled import ClassLogits


@dataclass
class ManyClassProblem:
    """The problem of the module docstring, with its exact gradient g* (float64)."""

    logits_of: ClassLogits
    weight: torch.Tensor
    targets: torch.Tensor
    proposals: dict[str, tuple[Proposal, bool]]  # name -> (proposal, corrected?)
    true_grad: torch.Tensor


def many_class_problem(classes: int = 2000, dim: int = 32, batch: int = 16, seed: int = 0) -> ManyClassProblem:
    gen = torch.Generator().manual_seed(seed)
    freq = 1 / torch.arange(1, classes + 1, dtype=torch.float32)
    freq /= freq.sum()
    counts = (1e6 * freq).round().clamp(min=1)
    weight = (torch.randn(classes, dim, generator=gen) / math.sqrt(dim)).requires_grad_(True)
    hidden = torch.randn(batch, dim, generator=gen)
    targets = torch.multinomial(freq, batch, replacement=True, generator=gen)
    logits_of = linear_class_logits(hidden, weight, freq.log())
    all_classes = torch.arange(classes)
    (true_grad,) = torch.autograd.grad(F.cross_entropy(logits_of(all_classes), targets), weight)
    proposals = {"uniform": (uniform_proposal(classes), True),
                 "frequency": (frequency_proposal(counts), True),
                 "model softmax": (model_proposal(logits_of(all_classes)), True),
                 "frequency, uncorrected": (frequency_proposal(counts), False)}
    return ManyClassProblem(logits_of, weight, targets, proposals, true_grad.double())


def gradient_error(problem: ManyClassProblem, proposal: str, samples: int, repeats: int,
                   generator: torch.Generator) -> dict[str, float]:
    """Relative bias, noise floor and relative variance of `repeats` sampled gradients."""
    prop, correct = problem.proposals[proposal]
    total, total_sq = torch.zeros_like(problem.true_grad), 0.0
    for _ in range(repeats):
        loss = sampled_softmax_loss(problem.logits_of, problem.targets, samples, prop, correct=correct,
                                    generator=generator)
        (g,) = torch.autograd.grad(loss, problem.weight)
        g = g.double()
        total += g
        total_sq += float((g * g).sum())
    mean = total / repeats
    variance = total_sq / repeats - float((mean * mean).sum())
    norm = float(problem.true_grad.norm())
    return {"relative bias": float((mean - problem.true_grad).norm()) / norm,
            "noise floor": math.sqrt(max(variance, 0.0) / repeats) / norm, "relative variance": variance / norm ** 2}


def bias_variance_table(samples: list[int], repeats: int, seed: int = 0, **problem) -> pd.DataFrame:
    """One row per proposal and m: proposal, m and gradient_error's three measures."""
    task = many_class_problem(seed=seed, **problem)
    gen = torch.Generator().manual_seed(seed)
    return pd.DataFrame([{"proposal": name, "m": m, **gradient_error(task, name, m, repeats, gen)}
                         for name in task.proposals for m in samples])


def correction_bias(seed: int, samples: int = 128, repeats: int = 100) -> tuple[float, float]:
    """(relative bias with the -log(m q) correction, without it), frequency proposal, m samples,
    on the problem drawn with `seed`: the reproduce claim that the correction removes the bias."""
    task = many_class_problem(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    return tuple(gradient_error(task, name, samples, repeats, gen)["relative bias"]
                 for name in ("frequency", "frequency, uncorrected"))
