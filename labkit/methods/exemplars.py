"""Exemplar memory with herding selection (Rebuffi et al., iCaRL, CVPR 2017), as LUCIR uses it
(docs/METHODS.md, section 6).

Herding picks, one at a time, the sample that brings the running mean of the chosen samples'
L2-normalised features closest to the class mean; the chosen samples are kept in the order they
were picked, so shrinking a class to its first m exemplars keeps the best m-subset herding found.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def herding_selection(features: torch.Tensor, m: int) -> torch.Tensor:
    """Indices of m rows of `features` (N, D), in herding order:

        phi_i = f_i / ||f_i||,  mu = mean_i phi_i,
        p_k = argmin_{i not chosen} || mu - (phi_i + sum_{j<k} phi_{p_j}) / k ||.
    """
    phi = F.normalize(features.detach().double(), dim=1)
    mu = phi.mean(0)
    m = min(m, len(phi))
    chosen: list[int] = []
    running = torch.zeros_like(mu)
    available = torch.ones(len(phi), dtype=torch.bool, device=phi.device)
    for k in range(1, m + 1):
        distance = (mu - (running + phi) / k).norm(dim=1)
        distance[~available] = float("inf")
        i = int(distance.argmin())
        chosen.append(i)
        available[i] = False
        running += phi[i]
    return torch.tensor(chosen, dtype=torch.long, device=features.device)


class ExemplarMemory:
    """Stored samples (x, y) of the classes seen, herding-ordered within each class.

    Budget: `total` > 0 splits a fixed total equally over the classes seen, floor(total / classes)
    each (iCaRL; shrinks as classes arrive); `total` = 0 keeps `per_class` of every class (LUCIR's
    20 per class on CIFAR-100), so the memory grows with the classes.
    """

    def __init__(self, total: int = 0, per_class: int = 20):
        self.total, self.per_class = total, per_class
        self.store: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def quota(self, num_classes: int) -> int:
        """Exemplars kept per class when `num_classes` classes have been seen."""
        return self.total // max(num_classes, 1) if self.total > 0 else self.per_class

    def __len__(self) -> int:
        return sum(len(y) for _, y in self.store.values())

    def update(self, x: torch.Tensor, y: torch.Tensor, features: torch.Tensor) -> None:
        """Add the classes in y (data of one task, `features` its backbone features), then
        shrink every class to the quota. A class already stored (data-IL) is re-selected from
        its stored exemplars and the new data together; the caller's features must then cover
        the stored exemplars too (use `with_stored`)."""
        classes = y.unique().tolist()
        m = self.quota(len(set(self.store) | set(classes)))
        for c in classes:
            rows = (y == c).nonzero().squeeze(1)
            keep = rows[herding_selection(features[rows], m)]
            self.store[c] = (x[keep].clone(), y[keep].clone())
        self.store = {c: (cx[:m], cy[:m]) for c, (cx, cy) in self.store.items()}

    def with_stored(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y extended by the stored exemplars of the classes in y (candidates for `update`)."""
        old = [self.store[c] for c in y.unique().tolist() if c in self.store]
        if not old:
            return x, y
        return (torch.cat([x] + [ox.to(x.device) for ox, _ in old]),
                torch.cat([y] + [oy.to(y.device) for _, oy in old]))

    def tensors(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """All exemplars as (x, y), classes in ascending order; None when empty."""
        if not self.store:
            return None
        ordered = [self.store[c] for c in sorted(self.store)]
        return (torch.cat([cx for cx, _ in ordered]).to(device), torch.cat([cy for _, cy in ordered]).to(device))

    def state_dict(self) -> dict:
        stored = self.tensors("cpu")
        return {} if stored is None else {"x": stored[0], "y": stored[1]}

    def load_state_dict(self, state: dict) -> None:
        """Rebuild from `state_dict`; order within a class (the herding order) is preserved."""
        self.store = {}
        if state:
            x, y = state["x"], state["y"]
            self.store = {c: (x[y == c], y[y == c]) for c in y.unique().tolist()}
