"""Growing classifier heads: one linear layer per task on shared features."""
from __future__ import annotations

import torch
from torch import nn


class TaskHeads(nn.Module):
    """A list of linear heads z_k = W_k h + b_k on features h of size ``in_features``; a new head
    is appended for each task. ``concat`` gives the single logit vector [z_1, ..., z_K] whose
    head k occupies columns offsets[k] : offsets[k] + sizes[k]."""

    def __init__(self, in_features: int):
        super().__init__()
        self.in_features = in_features
        self.heads = nn.ModuleList()

    def add_head(self, num_outputs: int, device: torch.device | str | None = None) -> nn.Linear:
        """Append a head with ``num_outputs`` logits, on ``device`` (default: that of the
        existing heads, else the CPU)."""
        if device is None:
            device = self.heads[-1].weight.device if self.heads else "cpu"
        head = nn.Linear(self.in_features, num_outputs, device=device)
        self.heads.append(head)
        return head

    @property
    def sizes(self) -> list[int]:
        return [head.out_features for head in self.heads]

    @property
    def offsets(self) -> list[int]:
        """Start column of each head in ``concat``: offsets[k] = sum_{j<k} sizes[j]."""
        starts, total = [], 0
        for size in self.sizes:
            starts.append(total)
            total += size
        return starts

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        return [head(features) for head in self.heads]

    def concat(self, features: torch.Tensor) -> torch.Tensor:
        """All heads' logits side by side, (N, sum(sizes)); (N, 0) before the first head."""
        if not self.heads:
            return features.new_zeros(features.shape[0], 0)
        return torch.cat(self(features), dim=1)
