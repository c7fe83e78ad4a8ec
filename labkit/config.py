"""RunConfig: one frozen dataclass for a whole experiment, and its validation."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from labkit.data import check_tasks, datasets, scenarios
from labkit.losses import losses
from labkit.methods import methods
from labkit.models import backbones
from labkit.registry import ConfigError

OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; the same config (and seed) gives the same result on CPU.

    FACIL's schedule: with lr_patience > 0 (needs val_fraction > 0), the learning rate is divided
    by lr_factor after lr_patience epochs without a better validation loss, the best model so far
    is restored, and the task stops once the rate falls below lr_min; the best model is kept at
    the end of the task. freeze_old_heads keeps heads 0..t-1 fixed while task t is learned.

    pretrained: "" (random initialisation), a checkpoint path made by `python -m labkit
    pretrain`, "auto" (pre-train the backbone on a held-out 20% of this dataset's training
    images, which the run then leaves out) or "auto:<dataset>" (pre-train on all of another
    dataset of the same image shape); see labkit.pretrain. knn_k: neighbours of the k-NN probe
    of the features after each task (0: no probe).

    The GPU path (each off by default, so a CPU run is exactly what it was): augment (random crop
    with 4-pixel padding and horizontal flip, on the device, per batch), amp (bf16 autocast of
    the training step on CUDA, for methods whose terms it keeps correct), channels_last (conv
    tensors in NHWC) and compile (torch.compile the backbone).
    """

    dataset: str = "digits"
    scenario: str = "class-il"
    tasks: int = 5
    method: str = "finetune"
    loss: str = "ce"
    backbone: str = "mlp"
    epochs: int = 5
    batch_size: int = 32
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    val_fraction: float = 0.0
    freeze_old_heads: bool = False
    lr_patience: int = 0
    lr_factor: float = 3.0
    lr_min: float = 1e-4
    device: str = "auto"
    data_root: str = "data"
    pretrained: str = ""
    knn_k: int = 10
    augment: bool = False
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    method_params: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "RunConfig":
        """Raise ConfigError (field, value, what is valid) on the first bad field; else self."""
        for name, registry in (("dataset", datasets), ("scenario", scenarios), ("backbone", backbones),
                               ("method", methods), ("loss", losses)):
            registry.get(getattr(self, name))
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("device", self.device, DEVICES)
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device", self.device, "no CUDA device is available here: use 'auto' or 'cpu'")
        for name in ("tasks", "epochs", "batch_size"):
            _positive_int(name, getattr(self, name))
        _number("lr", self.lr, low=0.0, low_open=True)
        _number("momentum", self.momentum, low=0.0)
        _number("weight_decay", self.weight_decay, low=0.0)
        _number("val_fraction", self.val_fraction, low=0.0, high=1.0)
        if not isinstance(self.lr_patience, int) or isinstance(self.lr_patience, bool) or self.lr_patience < 0:
            raise ConfigError("lr_patience", self.lr_patience, "0 (constant rate) or a positive number of epochs")
        if self.lr_patience and not self.val_fraction:
            raise ConfigError("lr_patience", self.lr_patience, "needs a validation split: set val_fraction > 0")
        _number("lr_factor", self.lr_factor, low=1.0, low_open=True)
        _number("lr_min", self.lr_min, low=0.0)
        for name in ("freeze_old_heads", "augment", "amp", "channels_last", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, getattr(self, name), "True or False")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError("seed", self.seed, "an integer")
        if not isinstance(self.knn_k, int) or isinstance(self.knn_k, bool) or self.knn_k < 0:
            raise ConfigError("knn_k", self.knn_k, "0 (no k-NN probe) or a positive number of neighbours")
        if self.pretrained.startswith("auto:") and self.pretrained[5:] not in datasets:
            raise ConfigError("pretrained", self.pretrained, f"auto:<dataset> with a dataset of: {', '.join(datasets)}")
        check_tasks(self.scenario, self.tasks, datasets.get(self.dataset).num_classes)
        method = methods.get(self.method)
        for name, problem in (("loss", method.loss_problem(self.loss)),
                              ("backbone", method.backbone_problem(self.backbone))):
            if problem:
                raise ConfigError(name, getattr(self, name), problem)
        method.checked_params(dict(self.method_params))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in names:
                raise ConfigError(key, d[key], f"not a RunConfig field; fields are {', '.join(sorted(names))}")
        return cls(**d)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)


def _choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(name, value, f"choose one of {', '.join(valid)}")


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(name, value, "a positive integer (1 or more)")


def _number(name: str, value: Any, low: float, high: float | None = None, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value < high)
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        raise ConfigError(name, value, f"a number {lo}" + (f" and < {high:g}" if high is not None else ""))
