"""A k-nearest-neighbour probe of the backbone's features (DLCFT Fig. 6): how well the
representation alone separates the classes seen so far, independent of the heads.

    acc_kNN = 1/|Q| sum_{q in Q} 1[ mode{ y_r : r in the k references most cosine-similar to q } = y_q ]

References: training images of tasks 0..t; queries: their test images; labels in the global
(incremental) label space. Both are capped by a fixed subsample drawn from a private generator,
so the probe never moves the run's random stream.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from labkit.data.types import Scenario
from labkit.models.eval_mode import evaluating

MAX_REFERENCES = 5000
MAX_QUERIES = 2000


def subsample(x: torch.Tensor, y: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    if len(y) <= limit:
        return x, y
    index = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:limit].to(y.device)
    return x[index], y[index]


@torch.no_grad()
def features_of(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([model.features(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def knn_accuracy(ref_features: torch.Tensor, ref_labels: torch.Tensor, query_features: torch.Tensor,
                 query_labels: torch.Tensor, k: int = 10) -> float:
    """Share of queries whose k cosine-nearest references vote (majority, ties to the smallest
    label) for the query's own label."""
    similarity = F.normalize(query_features, dim=1) @ F.normalize(ref_features, dim=1).T
    neighbours = similarity.topk(min(k, len(ref_labels)), dim=1).indices
    votes = ref_labels[neighbours].mode(dim=1).values
    return float((votes == query_labels).float().mean())


def knn_probe(model: torch.nn.Module, scenario: Scenario, t: int, k: int = 10) -> float:
    """k-NN accuracy of model.features on the test images of tasks 0..t, references from their
    training images."""
    tasks = scenario.tasks[: t + 1]
    ref_x, ref_y = subsample(torch.cat([u.train_x for u in tasks]), torch.cat([u.train_y for u in tasks]),
                             MAX_REFERENCES)
    query_x, query_y = subsample(torch.cat([u.test_x for u in tasks]), torch.cat([u.test_y for u in tasks]),
                                 MAX_QUERIES)
    with evaluating(model):
        return knn_accuracy(features_of(model, ref_x), ref_y, features_of(model, query_x), query_y, k)
