"""Losses as pure functions, and the registry of classification losses the runner's --loss names.

Each classification loss also names the likelihood it is the negative log of, which curvature
(Fisher) computations need: softmax CE is a categorical likelihood, MSE a unit-variance
Gaussian one on the logits with mean alpha * onehot(y).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from labkit.losses.classification import cross_entropy, mse_onehot
from labkit.losses.distillation import joint_kd
from labkit.registry import Registry


@dataclass(frozen=True)
class ClassificationLoss:
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    likelihood: str | None  # "categorical", "gaussian", or None: not a negative log-likelihood
    onehot_scale: float = 1.0  # the target a label stands for: onehot_scale * onehot(y)


losses: Registry[ClassificationLoss] = Registry("loss")
losses.register("ce", "softmax cross-entropy")(ClassificationLoss(cross_entropy, "categorical"))
losses.register("mse", "squared error against 15 * one-hot (DLCFT)")(
    ClassificationLoss(mse_onehot, "gaussian", onehot_scale=15.0))

__all__ = ["ClassificationLoss", "cross_entropy", "joint_kd", "losses", "mse_onehot"]
