"""Sampled estimators of the softmax loss for many classes, and the proposals they sample from
(docs/METHODS.md, section 19).

Full softmax CE costs O(N d) per example for N classes; these score the target and m sampled
classes only, O((m + 1) d), at the price of bias and variance that shrink with m:

    sampled_softmax_loss     softmax over the target and m negatives, each negative's logit
                             corrected by -log(m q_k) (Bengio & Senecal 2008; Jean et al. 2015)
    negative_sampling_loss   word2vec's logistic loss on the target and m negatives
    nce_loss                 noise-contrastive estimation: negative sampling with the correction
    in_batch_negatives_loss  the other examples' targets in the batch as the negatives

They are not in the runner's --loss registry: they need the class scores as a function of the
class (or the output layer's weights), a proposal and a random generator, not only the logits.

Scores come either as a weight matrix W (N, d) with the batch's hidden states h (B, d) passed as
`hidden` (z_bk = <h_b, W_k>), or as a callable `class_logits(ids)`: for ids of shape (C,),
shared by the batch, it returns the (B, C) scores of those classes for every example; for ids
of shape (B, C), one row per example, the (B, C) scores of each row's classes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

ClassLogits = Callable[[torch.Tensor], torch.Tensor]


def linear_class_logits(hidden: torch.Tensor, weight: torch.Tensor,
                        bias: torch.Tensor | None = None) -> ClassLogits:
    """The scores z_bk = <h_b, W_k> + b_k of a linear output layer, computed for the asked classes
    only: (C,) ids -> h W[ids]^T, (B, C) ids -> per-row dot products."""

    def logits_of(ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() == 1:
            z = hidden @ weight[ids].T
        else:
            z = torch.einsum("bd,bcd->bc", hidden, weight[ids])
        return z if bias is None else z + bias[ids]

    return logits_of


def _as_class_logits(class_logits: ClassLogits | torch.Tensor, hidden: torch.Tensor | None) -> ClassLogits:
    if isinstance(class_logits, torch.Tensor):
        if hidden is None:
            raise ValueError("a weight matrix needs the batch's hidden states: pass hidden=(B, d)")
        return linear_class_logits(hidden, class_logits)
    if hidden is not None:
        raise ValueError("hidden is only read with a weight matrix; a class_logits callable has its own")
    return class_logits


@dataclass(frozen=True)
class Proposal:
    """A distribution q over the N classes to draw negatives from.

    probs (N,): one q for the batch, and the m negatives are shared by all its examples;
    probs (B, N): one q per example, and each example draws its own m.
    distinct: draw m different classes instead of m independent draws. The log(m q_k)
    correction divides by the expected number of times class k is drawn, m q_k: true of
    independent draws for any q, and of distinct draws for the uniform q only (each class is
    among the m with probability m/N), so only uniform_proposal sets it.
    """

    probs: torch.Tensor
    distinct: bool = False

    def sample(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """m class ids, shape (m,) or (B, m) as probs is (N,) or (B, N)."""
        return torch.multinomial(self.probs, m, replacement=not self.distinct, generator=generator)

    def log_prob(self, ids: torch.Tensor) -> torch.Tensor:
        """log q_k of the given ids (any shape for a shared q; (B, C) for per-example q)."""
        q = self.probs[ids] if self.probs.dim() == 1 else self.probs.gather(-1, ids)
        return q.log()


def uniform_proposal(num_classes: int, device: torch.device | str = "cpu") -> Proposal:
    """q_k = 1/N, m distinct classes per draw (so all N when m = N)."""
    return Proposal(torch.full((num_classes,), 1 / num_classes, device=device), distinct=True)


def frequency_proposal(counts: torch.Tensor, power: float = 1.0) -> Proposal:
    """The unigram proposal q_k = c_k^power / sum_j c_j^power from class counts c (word2vec uses
    power 3/4 to flatten it). Every count must be positive: add one to classes never seen."""
    if (counts <= 0).any():
        raise ValueError("counts must be positive: a class with q = 0 can never be drawn and its "
                         "log q is -inf; add one to every count (Laplace smoothing)")
    weights = counts.double() ** power
    return Proposal((weights / weights.sum()).float())


def model_proposal(logits: torch.Tensor) -> Proposal:
    """q = softmax of the model's current logits (B, N), detached, one q per example. Under it
    each kept negative of the corrected sampled softmax adds exactly Z/m (Z = sum_k e^{z_k}), so
    the only randomness left is how many draws hit the target. It costs the full O(N d) to
    compute: a reference point, not a saving."""
    return Proposal(torch.softmax(logits.detach(), dim=-1))


def sampled_softmax_loss(class_logits: ClassLogits | torch.Tensor, targets: torch.Tensor, num_sampled: int,
                         proposal: Proposal, correct: bool = True, *, hidden: torch.Tensor | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Sampled softmax (Bengio & Senecal 2008; Jean et al. 2015), mean over the batch:

        L = -z_y + log( e^{z_y} + sum_{s=1}^m 1[k_s != y] e^{z_{k_s} - log(m q_{k_s})} ),  k_s ~ q.

    The negatives' sum is an unbiased estimate of sum_{k != y} e^{z_k} (each class drawn m q_k
    times on average; draws of the target itself, "accidental hits", are dropped), so L is a
    biased but consistent estimate of the full CE (the log of an unbiased sum), the bias shrinking
    roughly as 1/m. correct=False leaves out the -log(m q_k) (the plain softmax over the sample).
    Uniform q with m = N samples every class once and gives the full CE exactly.
    """
    logits_of = _as_class_logits(class_logits, hidden)
    negatives = proposal.sample(num_sampled, generator)
    positive = logits_of(targets[:, None])
    negative = logits_of(negatives)
    if correct:
        negative = negative - (math.log(num_sampled) + proposal.log_prob(negatives))
    negative = negative.masked_fill(negatives == targets[:, None], float("-inf"))
    logits = torch.cat([positive, negative], dim=1)
    return F.cross_entropy(logits, targets.new_zeros(len(targets)))


def negative_sampling_loss(class_logits: ClassLogits | torch.Tensor, targets: torch.Tensor, num_sampled: int,
                           proposal: Proposal, correct: bool = False, *, hidden: torch.Tensor | None = None,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Negative sampling (Mikolov et al. 2013), mean over the batch:

        L = -log sigma(z_y) - sum_{s=1}^m log sigma(-z_{k_s}),   k_s ~ q .

    Uncorrected, its population optimum scores a class by eta_k / q_k (eta the true class
    probabilities), not eta_k: rankings are skewed towards rare classes. correct=True replaces
    every z_k by z_k - log(m q_k), which is NCE (see nce_loss).
    """
    logits_of = _as_class_logits(class_logits, hidden)
    negatives = proposal.sample(num_sampled, generator)
    positive = logits_of(targets[:, None]).squeeze(1)
    negative = logits_of(negatives)
    if correct:
        positive = positive - (math.log(num_sampled) + proposal.log_prob(targets[:, None]).squeeze(1))
        negative = negative - (math.log(num_sampled) + proposal.log_prob(negatives))
    return (-F.logsigmoid(positive) - F.logsigmoid(-negative).sum(-1)).mean()


def nce_loss(class_logits: ClassLogits | torch.Tensor, targets: torch.Tensor, num_sampled: int,
             proposal: Proposal, *, hidden: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Noise-contrastive estimation (Gutmann & Hyvarinen 2010; Mnih & Teh 2012), mean over the
    batch: logistic classification of the data class against m noise classes from q, with the
    model's e^{z_k} taken as already normalised (Z = 1), so P(data | k) = sigma(z_k - log(m q_k)):

        L = -log sigma(z_y - log(m q_y)) - sum_{s=1}^m log sigma(-(z_{k_s} - log(m q_{k_s}))).

    That is negative_sampling_loss with correct=True; at its optimum e^{z_k} = eta_k.
    """
    return negative_sampling_loss(class_logits, targets, num_sampled, proposal, correct=True,
                                  hidden=hidden, generator=generator)


def in_batch_negatives_loss(class_logits: ClassLogits | torch.Tensor, targets: torch.Tensor,
                            proposal: Proposal | None = None, *,
                            hidden: torch.Tensor | None = None) -> torch.Tensor:
    """In-batch negatives, mean over the batch: example b's softmax runs over the B classes the
    batch targets, its own y_b the positive and the other B - 1 examples' targets the negatives
    (columns repeating y_b are dropped, as accidental hits):

        L_b = -z_{b y_b} + log( e^{z_{b y_b}} + sum_{c != b, y_c != y_b} e^{z_{b y_c} - log((B-1) q_{y_c})} ).

    The negatives are draws from the label distribution, so popular classes are over-sampled;
    given that distribution as `proposal` (frequency_proposal of the training labels), the
    log((B-1) q) correction of sampled_softmax_loss is applied (Yi et al. 2019's logQ correction);
    without it, none.
    """
    logits_of = _as_class_logits(class_logits, hidden)
    logits = logits_of(targets)
    others = ~torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    if proposal is not None:
        correction = math.log(len(targets) - 1) + proposal.log_prob(targets)
        logits = logits - torch.where(others, correction, torch.zeros_like(correction))
    logits = logits.masked_fill(others & (targets[None, :] == targets[:, None]), float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(targets), device=targets.device))
