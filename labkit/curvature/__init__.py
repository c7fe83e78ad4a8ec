"""Curvature of the training objective: diagonal Fisher (K-FAC and TK-FAC come later)."""
from labkit.curvature.fisher import FISHER_LABELS, diagonal_fisher

__all__ = ["FISHER_LABELS", "diagonal_fisher"]
