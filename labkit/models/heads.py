"""Growing classifier heads: one head per task on shared features, linear or cosine."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

HEAD_KINDS = ("linear", "cosine")


class CosineLinear(nn.Module):
    """A cosine-normalised head without bias (LUCIR, Hou et al. 2019):

        z_k = sigma * <W_k / ||W_k||, f / ||f||>,   so |z_k| <= sigma,

    invariant to rescaling f or any row W_k. ``forward(f, scale)`` takes sigma from the caller
    (TaskHeads shares one learnable sigma among all its cosine heads); alone it gives cosines.
    Weights start uniform in +-1/sqrt(in_features), as in LUCIR's code."""

    def __init__(self, in_features: int, out_features: int, device: torch.device | str | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device).uniform_(-bound, bound))

    def forward(self, features: torch.Tensor, scale: torch.Tensor | float = 1.0) -> torch.Tensor:
        return scale * F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1))


class TaskHeads(nn.Module):
    """A list of heads on features h of size ``in_features``, one appended per task:
    kind "linear": z_k = W_k h + b_k; kind "cosine": z_k = sigma * cos(W_k, h) (CosineLinear) with
    ONE learnable scale sigma shared by all heads, so the heads' logits stay comparable (LUCIR
    merges old and new class weights under one sigma). sigma starts at ``scale_init`` = 1.0, as
    in LUCIR's code, and is learned; it lives here, not in a head, so freezing old heads leaves it
    trainable. ``concat`` gives the single logit vector [z_1, ..., z_K] whose head k occupies
    columns offsets[k] : offsets[k] + sizes[k]."""

    def __init__(self, in_features: int, kind: str = "linear", scale_init: float = 1.0):
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {kind!r}: choose one of {', '.join(HEAD_KINDS)}")
        self.in_features, self.kind = in_features, kind
        self.heads = nn.ModuleList()
        if kind == "cosine":
            self.scale = nn.Parameter(torch.tensor(float(scale_init)))

    def add_head(self, num_outputs: int, device: torch.device | str | None = None) -> nn.Module:
        """Append a head with ``num_outputs`` logits, on ``device`` (default: that of the
        existing heads, else the CPU)."""
        if device is None:
            device = self.heads[-1].weight.device if self.heads else "cpu"
        if self.kind == "cosine":
            head = CosineLinear(self.in_features, num_outputs, device=device)
        else:
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

    def cosines(self, features: torch.Tensor) -> list[torch.Tensor]:
        """Cosine heads only: each head's unscaled cosines cos(W_k, h), in [-1, 1]."""
        return [head(features) for head in self.heads]

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        if self.kind == "cosine":
            return [head(features, self.scale) for head in self.heads]
        return [head(features) for head in self.heads]

    def concat(self, features: torch.Tensor) -> torch.Tensor:
        """All heads' logits side by side, (N, sum(sizes)); (N, 0) before the first head."""
        if not self.heads:
            return features.new_zeros(features.shape[0], 0)
        return torch.cat(self(features), dim=1)
