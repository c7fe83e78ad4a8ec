"""Losses as pure functions, and LOSSES, the registry of classification losses the runner's --loss names
(docs/METHODS.md, section 15; each family's formulas, defaults and use in the sections after it).

Each classification loss also names the likelihood it is the negative log of, which curvature
(Fisher) computations need: softmax CE is a categorical likelihood, MSE a unit-variance
Gaussian one on the logits with mean alpha * onehot(y). The other registered losses (sparsemax,
entmax, spherical, Taylor, one-vs-all BCE) are not the likelihoods the Fisher code knows, so they
say None and methods that need a Fisher (EWC) refuse them.

The sampled estimators for many classes (labkit.losses.sampled: sampled softmax, negative
sampling, NCE, in-batch negatives) are not registered: they need the output layer and a
proposal to draw classes from, not only the logits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from labkit.losses.classification import cross_entropy, mse_onehot
from labkit.losses.distillation import bce_kd, bce_onehot, joint_kd, per_task_kd
from labkit.losses.fenchel_young import entmax15, entmax15_loss, entmax_bisect, sparsemax, sparsemax_loss
from labkit.losses.sampled import (Proposal, frequency_proposal, in_batch_negatives_loss, linear_class_logits,
                                   model_proposal, nce_loss, negative_sampling_loss, sampled_softmax_loss,
                                   uniform_proposal)
from labkit.losses.softmax_alternatives import (ova_bce_loss, spherical_scores, spherical_softmax_loss, taylor_scores,
                                                taylor_softmax_loss)
from labkit.registry import Registry


@dataclass(frozen=True)
class ClassificationLoss:
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    likelihood: str | None  # "categorical", "gaussian", or None: not a negative log-likelihood
    onehot_scale: float = 1.0  # the target a label stands for: onehot_scale * onehot(y)
    # what the loss predicts by, when its probabilities do not rise with the logit (spherical,
    # Taylor): unnormalised probabilities per class, whose argmax is the prediction; None: the logits
    scores: Callable[[torch.Tensor], torch.Tensor] | None = None

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """The predicted class of each row: argmax of `scores(logits)` (of the logits if None)."""
        return (logits if self.scores is None else self.scores(logits)).argmax(-1)


LOSSES: Registry[ClassificationLoss] = Registry("loss")
LOSSES.register("ce", "softmax cross-entropy")(ClassificationLoss(cross_entropy, "categorical"))
LOSSES.register("mse", "squared error against 15 * one-hot (DLCFT)")(
    ClassificationLoss(mse_onehot, "gaussian", onehot_scale=15.0))
LOSSES.register("sparsemax", "sparsemax loss: sparse probabilities, zero once the margin 1 is met")(
    ClassificationLoss(sparsemax_loss, None))
LOSSES.register("entmax15", "1.5-entmax loss: sparse probabilities, zero once the margin 2 is met")(
    ClassificationLoss(entmax15_loss, None))
LOSSES.register("spherical", "spherical softmax NLL: p ~ z^2 + 0.01, not order preserving")(
    ClassificationLoss(spherical_softmax_loss, None, scores=spherical_scores))
LOSSES.register("taylor", "Taylor softmax NLL: p ~ 1 + z + z^2/2, not order preserving")(
    ClassificationLoss(taylor_softmax_loss, None, scores=taylor_scores))
LOSSES.register("ova_bce", "one-vs-all binary cross-entropy, summed over classes")(
    ClassificationLoss(ova_bce_loss, None))

__all__ = ["ClassificationLoss", "LOSSES", "Proposal", "bce_kd", "bce_onehot", "cross_entropy", "entmax15",
           "entmax15_loss", "entmax_bisect", "frequency_proposal", "in_batch_negatives_loss", "joint_kd",
           "linear_class_logits",
           "model_proposal", "mse_onehot", "nce_loss", "negative_sampling_loss", "ova_bce_loss", "per_task_kd",
           "sampled_softmax_loss", "sparsemax", "sparsemax_loss", "spherical_softmax_loss",
           "taylor_softmax_loss", "uniform_proposal"]
