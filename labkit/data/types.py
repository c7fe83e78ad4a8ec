"""The data every layer above passes around: a dataset as tensors, and a scenario as tasks."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ArrayDataset:
    """A whole dataset held as tensors.

    x: float32 images (N, C, H, W), already standardised per channel with train statistics;
    y: int64 labels in 0..num_classes-1.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


@dataclass
class Task:
    """One task of a scenario.

    `classes` are the task's classes as *incremental labels*: the scenario relabels the
    dataset so that classes are numbered in the order they arrive, and task t's classes are
    the contiguous range offset .. offset + len(classes) - 1. In data-IL every task holds
    all classes (offset 0). y tensors hold incremental labels.
    """

    index: int
    classes: list[int]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def offset(self) -> int:
        return self.classes[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class Scenario:
    """A sequence of tasks.

    kind: "class-il", "task-il" or "data-il".
    class_order[i] = the original dataset label of incremental label i.
    head_sizes: output units of each head the model grows, one per task for class-IL and
    task-IL (heads concatenated in task order give the incremental labels), one head of all
    classes for data-IL.
    """

    kind: str
    tasks: list[Task]
    class_order: list[int]
    num_classes: int
    input_shape: tuple[int, int, int]
    _offsets_on: dict = field(default_factory=dict, repr=False, compare=False)

    def offsets(self, device: torch.device) -> torch.Tensor:
        """Each task's first incremental label, as a tensor on `device`, made once per device
        (a host-to-device copy in every training step would make the host wait)."""
        key = str(device)
        if key not in self._offsets_on:
            self._offsets_on[key] = torch.tensor([t.offset for t in self.tasks], device=device)
        return self._offsets_on[key]

    @property
    def head_sizes(self) -> list[int]:
        if self.kind == "data-il":
            return [self.num_classes]
        return [t.num_classes for t in self.tasks]

    @property
    def multi_head(self) -> bool:
        """True when each task has its own head (class-IL, task-IL)."""
        return self.kind != "data-il"
