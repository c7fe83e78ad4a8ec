"""Classification losses: (logits, targets) -> scalar, mean over the batch (docs/METHODS.md, section 15)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy: mean_b [ -log softmax(z_b)_{y_b} ]."""
    return F.cross_entropy(logits, targets)


def mse_onehot(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 15.0) -> torch.Tensor:
    """Squared error against scaled one-hot targets (DLCFT, alpha = 15):

        L = 1/(B K) sum_b sum_k (z_bk - alpha * 1[k = y_b])^2

    (the mean over batch and classes, as torch's mse_loss takes it).
    """
    target = alpha * F.one_hot(targets, logits.shape[-1]).to(logits.dtype)
    return F.mse_loss(logits, target)
