"""digits_fashion8: one 20-class dataset made of the two real datasets this kit reads offline, so a
CPU can run 10 tasks of 2 classes (the digits and Fashion-MNIST have 10 classes each, 5 such
tasks at most).

    classes 0-9    sklearn's 8x8 digits (its fixed 80/20 split, 1,437 train / 360 test)
    classes 10-19  Fashion-MNIST, class c -> 10 + c, each 28x28 image area-averaged to 8x8
                   (every output pixel the mean of the input pixels it covers), the first
                   FASHION_PER_CLASS = (600 train, 200 test) images of each class in file order

Each source is standardised on its own training images first (as load_dataset gives it), so
neither source's pixel scale dominates, then the union is standardised again (per channel, on its
training images). Tasks then mix both sources wherever the class order puts them, and a
network must serve two kinds of image: more for a shared backbone to forget than in either
dataset alone (the reason it exists; docs/PAPERS.md, "What runs on a CPU").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from labkit.data.types import ArrayDataset

FASHION_PER_CLASS = (600, 200)  # train, test images of each Fashion-MNIST class
SIDE = 8  # the digits' side


def first_per_class(y: torch.Tensor, per_class: int) -> torch.Tensor:
    """Indices of the first `per_class` samples of each class, in file order."""
    return torch.cat([torch.nonzero(y == c)[:per_class, 0] for c in torch.unique(y)]).sort().values


def pooled_digits_fashion(digits: ArrayDataset, fashion: ArrayDataset) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, test_x, test_y, num_classes) of the dataset described in the module
    docstring, from the two sources as load_dataset gives them; labkit.data.datasets standardises
    the union and caches it per data root."""
    parts = []
    for (x, y), per_class in ((fashion.train_x, fashion.train_y), FASHION_PER_CLASS[0]), \
                             ((fashion.test_x, fashion.test_y), FASHION_PER_CLASS[1]):
        keep = first_per_class(y, per_class)
        parts.append((F.adaptive_avg_pool2d(x[keep], SIDE), y[keep] + digits.num_classes))
    (train_x, train_y), (test_x, test_y) = parts
    return (torch.cat([digits.train_x, train_x]), torch.cat([digits.train_y, train_y]),
            torch.cat([digits.test_x, test_x]), torch.cat([digits.test_y, test_y]),
            digits.num_classes + fashion.num_classes)
