"""Backbones, task heads and the incremental network built from them."""
from __future__ import annotations

from labkit.models.backbones import backbones
from labkit.models.heads import TaskHeads
from labkit.models.net import IncrementalNet


def build_model(backbone_name: str, input_shape: tuple[int, int, int]) -> IncrementalNet:
    """The named backbone for images of ``input_shape`` (C, H, W), with no heads yet."""
    return IncrementalNet(backbones.get(backbone_name)(tuple(input_shape)))


__all__ = ["backbones", "TaskHeads", "IncrementalNet", "build_model"]
