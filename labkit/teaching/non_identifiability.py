"""Notebook 01's computations ("Rethinking softmax", docs/PAPERS.md, section 1): the task masses of
joint KD, its within-task terms, and which sums of a head's biases a distillation loss leaves
where they started.

Task masses. Split the old logits into heads z = (z_1, ..., z_n). With p_T(z) = softmax(z / T),
the mass on head i is M_i(z) = sum_{k in head i} p_T(z)_k = softmax_i(LSE(z_1 / T), ..., LSE(z_n / T)),
and joint KD = CE(M(z^o), M(z)) + sum_i M_i(z^o) KD_T(z_i, z_i^o).

Bias sums. For a linear head z = W h + b, dL/db = sum over the batch of dL/dz. Softmax CE over a
group of classes has dL/dz summing to zero over that group, so under plain SGD (momentum or not,
no weight decay) the sum of the group's biases never moves: joint KD fixes the sum over all old
heads together, per-task KD each head's own sum, and the shift-sensitive BCE-KD none.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

HeadLoss = Callable[[list[torch.Tensor], list[torch.Tensor]], torch.Tensor]


def task_masses(heads: list[torch.Tensor], T: float = 2.0) -> torch.Tensor:
    """(batch, heads): M_i = softmax_i(LSE(z_1 / T), ..., LSE(z_n / T)), each head's share of p_T."""
    return torch.stack([torch.logsumexp(z / T, dim=1) for z in heads], dim=1).softmax(dim=1)


def within_task_kd(student_heads: list[torch.Tensor], teacher_heads: list[torch.Tensor],
                   T: float = 2.0) -> torch.Tensor:
    """(batch, heads): KD_T(z_i, z_i^o) of each sample and head, each head's softmax alone, no
    smoothing (the eps = 0 form of labkit.losses.per_task_kd, before the batch mean)."""
    return torch.stack([-(torch.softmax(t / T, 1) * torch.log_softmax(s / T, 1)).sum(1)
                        for s, t in zip(student_heads, teacher_heads)], dim=1)


def bias_sums_under_sgd(loss: HeadLoss, teacher_offsets: list[float], classes: int = 2, steps: int = 200,
                        lr: float = 0.5, momentum: float = 0.9, samples: int = 64, dim: int = 8,
                        seed: int = 0) -> np.ndarray:
    """Train linear student heads z_i = W_i h + b_i (biases starting at 0) on fixed random features
    h, against fixed random teacher logits whose head i is shifted by teacher_offsets[i], with
    SGD on loss(student_heads, teacher_heads); return sums[s, i] = sum_c b_ic after s steps
    (s = 0..steps, float64)."""
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(samples, dim, generator=gen, dtype=torch.float64)
    teacher = [torch.randn(samples, classes, generator=gen, dtype=torch.float64) + offset
               for offset in teacher_offsets]
    weights = [(0.3 * torch.randn(classes, dim, generator=gen, dtype=torch.float64)).requires_grad_()
               for _ in teacher_offsets]
    biases = [torch.zeros(classes, dtype=torch.float64, requires_grad=True) for _ in teacher_offsets]
    optimizer = torch.optim.SGD(weights + biases, lr=lr, momentum=momentum)
    sums = [[float(b.detach().sum()) for b in biases]]
    for _ in range(steps):
        optimizer.zero_grad()
        loss([features @ w.T + b for w, b in zip(weights, biases)], teacher).backward()
        optimizer.step()
        sums.append([float(b.detach().sum()) for b in biases])
    return np.array(sums)
