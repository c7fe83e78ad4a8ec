"""Fenchel-Young losses written from their regulariser (Blondel, Martins, Niculae 2020;
docs/METHODS.md, section 16).

A convex regulariser Omega with domain C (the simplex, a box, all of R^N) gives

    p_Omega(z)  = argmax_{p in C} <z, p> - Omega(p)          the prediction map
    Omega*(z)   = <z, p_Omega(z)> - Omega(p_Omega(z))        its convex conjugate
    L(z; t)     = Omega*(z) + Omega(t) - <z, t>   >= 0       the loss, for a target t in C
    grad_z L    = p_Omega(z) - t

This module computes L from (Omega, p_Omega) alone, so that each of labkit's classification
losses can be checked to be the Fenchel-Young loss of its own regulariser and domain:

    negative Shannon entropy on the simplex        softmax             softmax CE
    0.5 ||p||^2 on the simplex                     sparsemax           sparsemax loss
    negative Tsallis 1.5-entropy on the simplex    1.5-entmax          1.5-entmax loss
    0.5 ||p||^2 on R^N (no constraint)             identity, p = z     0.5 ||z - t||^2
    sum of negative binary entropies on [0, 1]^N   sigmoid per class   one-vs-all BCE

The labelled losses take t = e_y; the squared error takes DLCFT's t = 15 e_y. This is a check of
the family, not a loss to train with: it evaluates Omega at the map's output, whose log 0 (a saturated
sigmoid or softmax in float32) the closed forms in labkit.losses avoid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from labkit.losses.fenchel_young import entmax15, sparsemax

Tensor = torch.Tensor


@dataclass(frozen=True)
class Regulariser:
    """Omega (..., N) -> (...), its domain in words, and its prediction map p_Omega = grad Omega*."""

    name: str
    domain: str
    omega: Callable[[Tensor], Tensor]
    predict: Callable[[Tensor], Tensor]


def _neg_shannon(p: Tensor) -> Tensor:
    return torch.xlogy(p, p).sum(-1)  # sum_j p_j log p_j, with 0 log 0 = 0


def _half_squared_norm(p: Tensor) -> Tensor:
    return 0.5 * (p * p).sum(-1)


def _neg_tsallis15(p: Tensor) -> Tensor:
    return (4 / 3) * (p.clamp(min=0) ** 1.5 - p).sum(-1)  # -H_1.5(p), 1/(alpha (alpha-1)) = 4/3


def _neg_binary_entropies(p: Tensor) -> Tensor:
    return (torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p)).sum(-1)


REGULARISERS: dict[str, Regulariser] = {
    "softmax CE": Regulariser("negative Shannon entropy", "simplex", _neg_shannon,
                              lambda z: torch.softmax(z, -1)),
    "sparsemax": Regulariser("0.5 ||p||^2", "simplex", _half_squared_norm, sparsemax),
    "1.5-entmax": Regulariser("negative Tsallis 1.5-entropy", "simplex", _neg_tsallis15, entmax15),
    "squared error": Regulariser("0.5 ||p||^2", "R^N", _half_squared_norm, lambda z: z),
    "OvA BCE": Regulariser("sum of negative binary entropies", "[0, 1]^N", _neg_binary_entropies, torch.sigmoid),
}


def fenchel_young_loss(regulariser: Regulariser, z: Tensor, target: Tensor) -> Tensor:
    """L(z; t) = Omega*(z) + Omega(t) - <z, t> per row (no mean), with Omega*(z) evaluated as
    <z, p> - Omega(p) at p = p_Omega(z). `target` has z's shape (e.g. a one-hot, or 15 * one-hot)."""
    p = regulariser.predict(z)
    conjugate = (z * p).sum(-1) - regulariser.omega(p)
    return conjugate + regulariser.omega(target) - (z * target).sum(-1)
