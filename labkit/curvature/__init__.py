"""Curvature of the training objective: diagonal Fisher, K-FAC / TK-FAC factors, and the Fisher's
largest eigenvalue (with softmax CE's logit-space Hessian), and both tracked after each task."""
from labkit.curvature.fisher import FISHER_LABELS, FISHER_LABELS_RENAMED, diagonal_fisher
from labkit.curvature.kfac import (FISHER_TYPES, KronFactors, extend_outputs, kfac_factors, kfac_penalty,
                                   merge_factors)
from labkit.curvature.spectrum import max_fisher_eigenvalue, softmax_ce_logit_hessian
from labkit.curvature.tracking import curvature_after_task

__all__ = ["FISHER_LABELS", "FISHER_LABELS_RENAMED", "diagonal_fisher", "FISHER_TYPES", "KronFactors", "kfac_factors",
           "merge_factors", "extend_outputs", "kfac_penalty", "max_fisher_eigenvalue", "softmax_ce_logit_hessian",
           "curvature_after_task"]
