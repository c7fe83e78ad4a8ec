"""Mini-batches as slices of tensors already on the device: no worker processes, no copies
beyond the gather of each batch."""
from __future__ import annotations

from typing import Iterator

import torch


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) batches; the order comes from torch's global generator when shuffled."""
    n = len(x)
    order = torch.randperm(n, device=x.device) if shuffle else torch.arange(n, device=x.device)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]
