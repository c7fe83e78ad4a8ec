"""Backbones, task heads and the incremental network built from them."""
from __future__ import annotations

from labkit.models.backbones import BACKBONES
from labkit.models.heads import CosineLinear, TaskHeads
from labkit.models.net import IncrementalNet
from labkit.models.taylor import Linearized, fold_batchnorm, linearize


def build_model(backbone_name: str, input_shape: tuple[int, int, int], head_kind: str = "linear") -> IncrementalNet:
    """The named backbone for images of ``input_shape`` (C, H, W), with no heads yet; the heads
    it will grow are of ``head_kind`` ("linear" or "cosine", see TaskHeads)."""
    return IncrementalNet(BACKBONES.get(backbone_name)(tuple(input_shape)), head_kind=head_kind)


__all__ = ["BACKBONES", "CosineLinear", "TaskHeads", "IncrementalNet", "Linearized", "build_model", "fold_batchnorm",
           "linearize"]
