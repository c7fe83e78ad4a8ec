"""Softmax alternatives: other maps from scores to probabilities, and one-vs-all sigmoids
(docs/METHODS.md, section 17).

Spherical and Taylor softmax (de Brebisson & Vincent 2016) replace exp by a positive even-ish
polynomial and are trained by their negative log-likelihood. Neither is a Fenchel-Young loss and
neither map preserves the order of the scores: a lower score can get a higher probability
(spherical: z = (-2, 1) gives p ~ (0.8, 0.2); Taylor: 1 + z + z^2/2 falls for z < -1).
One-vs-all BCE scores each class as its own binary problem, with no normalisation across classes.
All take the mean over the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _normalised_nll(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean_b [ -log(scores_{b y_b} / sum_j scores_{b j}) ] for positive scores."""
    return (scores.sum(-1).log() - scores.gather(-1, y[:, None]).squeeze(-1).log()).mean()


def spherical_scores(z: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """z^2 + eps: the spherical softmax's unnormalised probabilities, what it predicts by."""
    return z ** 2 + eps


def taylor_scores(z: torch.Tensor) -> torch.Tensor:
    """1 + z + z^2 / 2: the Taylor softmax's unnormalised probabilities, what it predicts by."""
    return 1 + z + z ** 2 / 2


def spherical_softmax_loss(z: torch.Tensor, y: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """Negative log-likelihood of the spherical softmax (Vincent et al. 2015):

        p_k = (z_k^2 + eps) / sum_j (z_j^2 + eps),   L = -log p_y .

    eps > 0 keeps every p_k positive (a zero score would otherwise have p = 0 and infinite loss);
    it is a hyper-parameter of the loss, not only a numerical guard.
    """
    return _normalised_nll(spherical_scores(z, eps), y)


def taylor_softmax_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the Taylor softmax (de Brebisson & Vincent 2016), exp replaced
    by its second-order Taylor expansion, which is >= 1/2 everywhere:

        p_k = (1 + z_k + z_k^2 / 2) / sum_j (1 + z_j + z_j^2 / 2),   L = -log p_y .
    """
    return _normalised_nll(taylor_scores(z), y)


def ova_bce_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One-vs-all binary cross-entropy, summed over the N classes, mean over the batch:

        L = mean_b sum_k BCE(sigma(z_bk), 1[k = y_b])
          = mean_b [ -log sigma(z_{b y_b}) - sum_{k != y_b} log sigma(-z_bk) ] .

    Summed, not averaged, over classes: each class is its own binary problem with gradient
    sigma(z_k) - 1[k = y], the same scale as softmax CE's p_k - 1[k = y] whatever N is; the mean
    over classes would shrink the positive's pull by 1/N as classes are added.
    """
    onehot = F.one_hot(y, z.shape[-1]).to(z.dtype)
    return F.binary_cross_entropy_with_logits(z, onehot, reduction="none").sum(-1).mean()
