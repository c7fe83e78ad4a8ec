"""Pre-trained backbones, made here: no pre-trained weights can be downloaded on this kind of
machine, so labkit trains its own and caches the checkpoint (DLCFT starts from a pre-trained
network; the paper pre-trains on ImageNet32 for CIFAR-100).

Two sources of pre-training data, both disjoint from what the continual run trains on:
  - a held-out part of the run's own dataset: a fixed (seed 0) ``holdout`` fraction of the
    training images, which a run that starts from this checkpoint then leaves out of its tasks;
  - another dataset with the same image shape (e.g. CIFAR-10 for CIFAR-100), all of its
    training images.
The backbone is trained with one linear classifier over all classes of the pre-training data
(softmax CE, SGD with momentum, cosine-annealed rate; on CUDA with the runner's GPU path: crop and
flip on the device, bf16 autocast, channels-last); only the backbone is kept. Checkpoints
hold tensors and plain values only, and load with ``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from labkit.data import load_dataset
from labkit.data.augment import random_crop_flip
from labkit.data.loaders import batches
from labkit.data.types import ArrayDataset
from labkit.models import backbones
from labkit.registry import ConfigError

SPLIT_SEED = 0


@dataclass(frozen=True)
class PretrainSpec:
    """What a checkpoint is trained on and how. source: the dataset trained on; holdout > 0
    means only that fraction of source's training images (the rest stays for the runs)."""

    source: str
    backbone: str
    holdout: float = 0.2
    epochs: int = 10
    lr: float = 0.05
    batch_size: int = 128
    weight_decay: float = 5e-4

    def file_name(self) -> str:
        part = f"h{self.holdout:g}" if self.holdout else "all"
        return (f"{self.source}-{self.backbone}-{part}-e{self.epochs}-lr{self.lr:g}-b{self.batch_size}"
                f"-wd{self.weight_decay:g}.pt")


def holdout_indices(num_train: int, holdout: float) -> torch.Tensor:
    """The training indices set aside for pre-training: the first ``holdout`` share of a fixed
    (seed 0) permutation, so every run and the pre-training agree on them."""
    order = torch.randperm(num_train, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[: int(round(holdout * num_train))]


def without_pretraining_images(dataset: ArrayDataset, checkpoint: dict) -> ArrayDataset:
    """``dataset`` minus the training images the checkpoint was pre-trained on (when it was
    pre-trained on a held-out part of this same dataset); the test set is untouched."""
    if checkpoint["source"] != dataset.name or not checkpoint["holdout"]:
        return dataset
    keep = torch.ones(len(dataset.train_y), dtype=torch.bool)
    keep[holdout_indices(len(dataset.train_y), checkpoint["holdout"])] = False
    return ArrayDataset(dataset.name, dataset.train_x[keep], dataset.train_y[keep],
                        dataset.test_x, dataset.test_y, dataset.num_classes)


def pretraining_images(dataset: ArrayDataset, holdout: float) -> tuple[torch.Tensor, torch.Tensor]:
    if not holdout:
        return dataset.train_x, dataset.train_y
    index = holdout_indices(len(dataset.train_y), holdout)
    return dataset.train_x[index], dataset.train_y[index]


def train_backbone(spec: PretrainSpec, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                   device: torch.device, log=print) -> tuple[nn.Module, float]:
    """Backbone + linear classifier trained with softmax CE; returns the backbone and the final
    epoch's training accuracy."""
    torch.manual_seed(SPLIT_SEED)
    backbone = backbones.get(spec.backbone)(tuple(x.shape[1:])).to(device)
    net = nn.Sequential(backbone, nn.Linear(backbone.out_dim, num_classes)).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=spec.lr, momentum=0.9, weight_decay=spec.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, spec.epochs)
    x, y = x.to(device), y.to(device)
    gpu = device.type == "cuda"
    if gpu:
        net = net.to(memory_format=torch.channels_last)
    accuracy = 0.0
    for epoch in range(spec.epochs):
        hits = torch.zeros((), device=device)
        for xb, yb in batches(x, y, spec.batch_size):
            if gpu:
                xb = random_crop_flip(xb).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
                logits = net(xb)
                loss = nn.functional.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            hits += (logits.argmax(1) == yb).sum()
        schedule.step()
        accuracy = float(hits) / len(y)
        log(f"pretrain {spec.backbone} on {spec.source}: epoch {epoch + 1}/{spec.epochs}, "
            f"train accuracy {100 * accuracy:.1f}%")
    return backbone.eval(), accuracy


def pretrain(spec: PretrainSpec, data_root: str | Path = "data", device: torch.device | str = "cpu",
             log=print) -> Path:
    """Train (or find cached) the checkpoint ``spec`` names, under data_root/checkpoints/."""
    path = Path(data_root) / "checkpoints" / spec.file_name()
    if path.exists():
        return path
    dataset = load_dataset(spec.source, data_root)
    x, y = pretraining_images(dataset, spec.holdout)
    backbone, accuracy = train_backbone(spec, x, y, dataset.num_classes, torch.device(device), log)
    checkpoint = {"source": spec.source, "backbone": spec.backbone, "holdout": spec.holdout,
                  "input_shape": list(dataset.input_shape), "epochs": spec.epochs,
                  "train_images": len(y), "train_accuracy": accuracy,
                  "state_dict": {k: v.cpu() for k, v in backbone.state_dict().items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    torch.save(checkpoint, partial)
    partial.replace(path)  # atomic: an interrupted pre-training leaves no half checkpoint
    return path


def spec_for(pretrained: str, dataset: str, backbone: str) -> PretrainSpec | None:
    """RunConfig.pretrained -> what to pre-train: "auto" (a held-out 20% of the run's dataset,
    10 epochs: quick) or "auto:<dataset>" (all of another dataset with DLCFT's pre-training
    recipe: 100 epochs, SGD 0.1, batch 256, weight decay 1e-5, cosine); None for a checkpoint path."""
    if pretrained == "auto":
        return PretrainSpec(source=dataset, backbone=backbone)
    if pretrained.startswith("auto:"):
        return PretrainSpec(source=pretrained[5:], backbone=backbone, holdout=0.0, epochs=100, lr=0.1,
                            batch_size=256, weight_decay=1e-5)
    return None


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("pretrained", str(path), "a checkpoint file made by `python -m labkit pretrain`, "
                          "'auto' or 'auto:<dataset>'")
    return torch.load(path, map_location="cpu", weights_only=True)


def resolve(pretrained: str, dataset: str, backbone: str, data_root: str | Path,
            device: torch.device | str = "cpu", log=print) -> dict | None:
    """The checkpoint a run starts from (pre-training it first when asked and not cached), or
    None when ``pretrained`` is empty."""
    if not pretrained:
        return None
    spec = spec_for(pretrained, dataset, backbone)
    path = pretrain(spec, data_root, device, log) if spec else Path(pretrained)
    checkpoint = load_checkpoint(path)
    if checkpoint["backbone"] != backbone:
        raise ConfigError("pretrained", str(path), f"a checkpoint of backbone {backbone!r}; "
                          f"this one holds {checkpoint['backbone']!r}")
    return checkpoint
