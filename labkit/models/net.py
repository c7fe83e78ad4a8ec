"""A backbone with growing task heads: the model every method trains."""
from __future__ import annotations

import torch
from torch import nn

from labkit.models.heads import TaskHeads


class IncrementalNet(nn.Module):
    """logits(x) = [z_1, ..., z_K] with z_k = W_k phi(x) + b_k, phi the backbone (head_kind
    "linear"), or z_k = sigma cos(W_k, phi(x)) (head_kind "cosine", see TaskHeads)."""

    def __init__(self, backbone: nn.Module, head_kind: str = "linear"):
        super().__init__()
        self.backbone = backbone
        self.heads = TaskHeads(backbone.out_dim, kind=head_kind)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def head_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.heads(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads.concat(self.features(x))

    def add_head(self, num_outputs: int) -> nn.Module:
        """Append a head for a new task, on the backbone's device."""
        return self.heads.add_head(num_outputs, device=next(self.backbone.parameters()).device)
