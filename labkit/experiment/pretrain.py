"""Pre-trained backbones, made here: no pre-trained weights can be downloaded on this kind of
machine, so labkit trains its own and caches them in a pre-trained file under
data_root/checkpoints/ (DLCFT starts from a pre-trained network; the paper pre-trains on
ImageNet32 for CIFAR-100).

Two sources of pre-training data, both disjoint from what the continual run trains on:
  - a held-out part of the run's own dataset: a fixed (seed 0) ``holdout`` fraction of the
    training images, which a run that starts from these weights then leaves out of its tasks;
  - another dataset with the same image shape (e.g. CIFAR-10 for CIFAR-100), all of its
    training images.
The backbone is trained with one linear classifier over all classes of the pre-training data
(softmax CE, SGD with momentum, cosine-annealed rate; on CUDA with the runner's GPU path: crop and
flip on the device, bf16 autocast, channels-last); only the backbone is kept. A pre-trained file
holds tensors and plain values only (PRETRAINED_KEYS), and loads with
``torch.load(..., weights_only=True)``. (A run folder's checkpoint.pt, the state a run resumes
from, is another thing: labkit.experiment.store.)

A pre-trained file is checked before it is used (``load_pretrained``): a file that is not one,
or whose weights do not fit the backbone or are not finite, is refused by name; a damaged cached
one is trained again; a pre-training that diverges raises labkit.experiment.outcome.Diverged and
caches nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labkit.config import EPOCHS_MAX, check_folder
from labkit.data import DATASETS, load_dataset
from labkit.data.augment import random_crop_flip
from labkit.data.loaders import batches
from labkit.data.types import ArrayDataset
from labkit.experiment.outcome import Diverged, divergence, parameter_norm, weight_divergence
from labkit.models import BACKBONES
from labkit.errors import ConfigError
from labkit.registry import check_number

SPLIT_SEED = 0
PRETRAINED_KEYS = ("source", "backbone", "holdout", "input_shape", "epochs", "train_images",
                   "train_accuracy", "state_dict")


@dataclass(frozen=True)
class PretrainSpec:
    """What a pre-trained file's backbone is trained on and how. source: the dataset trained on; holdout > 0
    means only that fraction of source's training images (the rest stays for the runs)."""

    source: str
    backbone: str
    holdout: float = 0.2
    epochs: int = 10
    lr: float = 0.05
    batch_size: int = 128
    weight_decay: float = 5e-4

    def validate(self) -> "PretrainSpec":
        """Raise ConfigError (field, value, what is valid) on the first bad field, before any work:
        a bad number would otherwise fail deep in training (batch size 0) or train a NaN backbone
        (lr nan) that the cache then hands to every later run; else return self."""
        DATASETS.get(self.source)
        BACKBONES.get(self.backbone)
        check_number("holdout", self.holdout, ge=0, lt=1)  # 0: all training images
        check_number("epochs", self.epochs, integer=True, ge=1, le=EPOCHS_MAX)  # a run's cap
        check_number("batch_size", self.batch_size, integer=True, ge=1)
        check_number("lr", self.lr, gt=0)
        check_number("weight_decay", self.weight_decay, ge=0)
        return self

    def file_name(self) -> str:
        part = f"h{self.holdout:g}" if self.holdout else "all"
        return (f"{self.source}-{self.backbone}-{part}-e{self.epochs}-lr{self.lr:g}-b{self.batch_size}"
                f"-wd{self.weight_decay:g}.pt")


def holdout_indices(num_train: int, holdout: float) -> torch.Tensor:
    """The training indices set aside for pre-training: the first ``holdout`` share of a fixed
    (seed 0) permutation, so every run and the pre-training agree on them."""
    order = torch.randperm(num_train, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[: int(round(holdout * num_train))]


def without_pretraining_images(dataset: ArrayDataset, weights: dict) -> ArrayDataset:
    """``dataset`` minus the training images the pre-trained ``weights`` were trained on (when
    they were trained on a held-out part of this same dataset); the test set is untouched."""
    if weights["source"] != dataset.name or not weights["holdout"]:
        return dataset
    keep = torch.ones(len(dataset.train_y), dtype=torch.bool)
    keep[holdout_indices(len(dataset.train_y), weights["holdout"])] = False
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
    epoch's training accuracy. Raises labkit.experiment.outcome.Diverged (task 0) after an epoch whose mean
    loss is not finite or has exploded, or whose weights are not finite or blew up (the
    runner's rules, labkit.experiment.outcome), so a blown-up backbone is never returned. Hits and the
    loss are summed on the device and read once per epoch, with the first batch's loss and the
    parameter norm."""
    torch.manual_seed(SPLIT_SEED)
    backbone = BACKBONES.get(spec.backbone)(tuple(x.shape[1:])).to(device)
    net = nn.Sequential(backbone, nn.Linear(backbone.out_dim, num_classes)).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=spec.lr, momentum=0.9, weight_decay=spec.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, spec.epochs)
    x, y = x.to(device), y.to(device)
    gpu = device.type == "cuda"
    if gpu:
        net = net.to(memory_format=torch.channels_last)
    accuracy, first_batch, last_finite = 0.0, None, None
    params = list(net.parameters())
    start_norm = parameter_norm(params)
    for epoch in range(spec.epochs):
        hits, total = torch.zeros((), device=device), torch.zeros((), device=device)
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
            total += loss.detach().float() * len(yb)
            if first_batch is None:
                first_batch = loss.detach().float().clone()
        schedule.step()
        read_hits, read_total, read_first, norm, start = torch.stack(  # one sync
            [hits.double(), total.double(), first_batch.double(), parameter_norm(params), start_norm]).tolist()
        accuracy, epoch_loss = read_hits / len(y), read_total / len(y)
        reason = divergence(epoch_loss, read_first) or weight_divergence(norm, start)
        if reason:
            raise Diverged(0, epoch, reason, last_finite)
        last_finite = epoch_loss
        log(f"pretrain {spec.backbone} on {spec.source}: epoch {epoch + 1}/{spec.epochs}, "
            f"loss {epoch_loss:.4f}, train accuracy {100 * accuracy:.1f}%")
    return backbone.eval(), accuracy


def pretrain(spec: PretrainSpec, data_root: str | Path = "data", device: torch.device | str = "cpu",
             log=print) -> Path:
    """Train (or find cached) the pre-trained file ``spec`` names, under data_root/checkpoints/;
    its path.

    A cached file is checked as ``load_pretrained`` checks any: a damaged one (truncated,
    garbage, NaN weights, not fitting the backbone) is trained again and replaced, with a log
    line saying so. A pre-training that diverges raises Diverged and caches nothing; the new
    file is written beside the old and renamed over it, so a reader never sees half a file."""
    spec.validate()
    check_folder("data_root", str(data_root) if isinstance(data_root, Path) else data_root)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", str(device), "no CUDA device is available here: use 'auto' or 'cpu'")
    root = Path(data_root)
    if root.exists() and not root.is_dir():
        raise ConfigError("data_root", str(data_root), "a folder (checkpoints are cached under data_root/checkpoints)")
    path = root / "checkpoints" / spec.file_name()
    if path.exists():
        problem = pretrained_file_problem(path, spec.backbone, DATASETS.get(spec.source).input_shape)
        if problem is None:
            return path
        log(f"pretrain: the cached checkpoint {path} is damaged ({problem}); training it again")
    dataset = load_dataset(spec.source, data_root)
    x, y = pretraining_images(dataset, spec.holdout)
    if len(y) == 0:
        raise ConfigError("holdout", spec.holdout, f"a share of {spec.source}'s {len(dataset.train_y)} "
                          "training images that holds at least one image")
    backbone, accuracy = train_backbone(spec, x, y, dataset.num_classes, device, log)
    weights = {"source": spec.source, "backbone": spec.backbone, "holdout": spec.holdout,
               "input_shape": list(dataset.input_shape), "epochs": spec.epochs,
               "train_images": len(y), "train_accuracy": accuracy,
               "state_dict": {k: v.cpu() for k, v in backbone.state_dict().items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")  # one per process: no two writers share it
    torch.save(weights, partial)
    partial.replace(path)  # atomic: an interrupted pre-training leaves no half file
    return path


def spec_for(pretrained: str, dataset: str, backbone: str) -> PretrainSpec | None:
    """RunConfig.pretrained -> what to pre-train: "auto" (a held-out 20% of the run's dataset,
    10 epochs: quick) or "auto:<dataset>" (all of another dataset with DLCFT's pre-training
    recipe: 100 epochs, SGD 0.1, batch 256, weight decay 1e-5, cosine); None for a pre-trained file's path."""
    if pretrained == "auto":
        return PretrainSpec(source=dataset, backbone=backbone)
    if pretrained.startswith("auto:"):
        return PretrainSpec(source=pretrained[5:], backbone=backbone, holdout=0.0, epochs=100, lr=0.1,
                            batch_size=256, weight_decay=1e-5)
    return None


# torch's paragraphs around a weights_only refusal; one advises loading the file unsafely
TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _load_error(error: Exception) -> str:
    """`error` from torch.load in one line: its type and what went wrong, without the advice."""
    lines = [line.strip() for line in str(error).splitlines()]
    detail = "; ".join(line for line in lines if line and not line.startswith(TORCH_BOILERPLATE))
    return f"{type(error).__name__}: {detail[:200]}" if detail else type(error).__name__


def _read(path: Path, backbone: str | None, input_shape: tuple[int, ...] | None) -> tuple[Any, str | None]:
    """(what torch.load reads from `path`, None), or (None, why it is not a usable pre-trained file)."""
    if not path.is_file():
        return None, "no such file"
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    except Exception as error:  # noqa: BLE001 - garbage makes torch.load raise many kinds of error
        return None, f"torch cannot load it as tensors and plain values ({_load_error(error)})"
    problem = _contents_problem(weights, backbone, input_shape)
    return (None, problem) if problem else (weights, None)


def _contents_problem(weights: Any, backbone: str | None,
                      input_shape: tuple[int, ...] | None) -> str | None:
    """Why `weights` (what torch.load returned) are not usable labkit pre-trained weights, or None.

    Checked: a dict with PRETRAINED_KEYS; the backbone is `backbone` (when given) and
    registered; its state_dict has exactly the parameter and buffer names and shapes of that
    backbone built for `input_shape` (the run's images; the file's own when None); every
    floating-point tensor is finite (NaN weights come from a diverged training)."""
    if not isinstance(weights, dict):
        return f"it holds a {type(weights).__name__}, not a checkpoint dict"
    missing = [key for key in PRETRAINED_KEYS if key not in weights]
    if missing:
        return f"it lacks the entries {', '.join(missing)}"
    name = weights["backbone"]
    if backbone is not None and name != backbone:
        return f"a checkpoint of backbone {backbone!r} is needed; this one holds {name!r}"
    if name not in BACKBONES:
        return f"its backbone {name!r} is not one of {', '.join(BACKBONES)}"
    shape = weights["input_shape"]
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)):
        return f"its input_shape {shape!r} is not (C, H, W)"
    if input_shape is not None and tuple(shape) != tuple(input_shape):
        return f"it was trained on images of shape {tuple(shape)}, not {tuple(input_shape)}"
    state = weights["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "its state_dict is not a dict of tensors"
    with torch.device("meta"):  # shapes only: no memory, and the global random stream is untouched
        expected = {k: tuple(v.shape) for k, v in BACKBONES.get(name)(tuple(shape)).state_dict().items()}
    if set(state) != set(expected):
        lacking, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        return (f"its state_dict does not fit backbone {name!r}: missing {', '.join(lacking) or 'nothing'}; "
                f"unexpected {', '.join(extra) or 'nothing'}")
    wrong = [f"{k} {tuple(state[k].shape)} (needs {expected[k]})" for k in expected if tuple(state[k].shape) != expected[k]]
    if wrong:
        return f"its state_dict does not fit backbone {name!r}: {'; '.join(wrong)}"
    broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        return f"its weights hold NaN or inf ({', '.join(broken)}): the training that made it diverged"
    return None


def pretrained_file_problem(path: str | Path, backbone: str | None = None,
                            input_shape: tuple[int, ...] | None = None) -> str | None:
    """Why the file at `path` is not a usable pre-trained file (see `load_pretrained`), or None."""
    return _read(Path(path), backbone, input_shape)[1]


def load_pretrained(path: str | Path, backbone: str | None = None,
                    input_shape: tuple[int, ...] | None = None) -> dict:
    """The pre-trained weights in the file at `path` (PRETRAINED_KEYS), after checking it is one
    labkit made and that it fits: ConfigError on field "pretrained" saying what is wrong otherwise
    (not a file, not loadable by torch, not such a dict, another backbone, a state_dict that does not fit the
    backbone's names and shapes, non-finite weights; see `_contents_problem`), so a bad file is
    refused by name instead of failing later inside load_state_dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("pretrained", str(path), "a checkpoint file made by `python -m labkit pretrain`, "
                          "'auto' or 'auto:<dataset>'")
    weights, problem = _read(path, backbone, input_shape)
    if problem:
        raise ConfigError("pretrained", str(path), f"a checkpoint made by `python -m labkit pretrain`; {problem}")
    return weights


def resolve(pretrained: str, dataset: str, backbone: str, data_root: str | Path,
            device: torch.device | str = "cpu", log=print) -> dict | None:
    """The pre-trained weights a run starts from (RunConfig.pretrained: pre-training them first
    when asked and not cached), or None when ``pretrained`` is empty. They are checked to fit
    ``backbone`` on ``dataset``'s images."""
    if not pretrained:
        return None
    spec = spec_for(pretrained, dataset, backbone)
    path = pretrain(spec, data_root, device, log) if spec else Path(pretrained)
    return load_pretrained(path, backbone, DATASETS.get(dataset).input_shape)
