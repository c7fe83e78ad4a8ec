"""Datasets by name: sklearn's bundled digits, Fashion-MNIST, CIFAR-10/100 and user arrays.

Fashion-MNIST and CIFAR files are looked for on disk first and downloaded through torchvision
only when it is installed. Every loader returns an ArrayDataset: float32 images (N, C, H, W)
standardised per channel with the train set's statistics, and int64 labels.
"""
from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from functools import partial
from numbers import Integral
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from labkit.data.types import ArrayDataset
from labkit.registry import ConfigError, Registry


@dataclass(frozen=True)
class DatasetInfo:
    """What is known about a dataset without loading it; `load(data_root)` loads it."""

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    load: Callable[[Path], ArrayDataset]


class DatasetNotFoundError(ConfigError):
    """A dataset's files are in none of the searched folders and could not be downloaded."""

    def __init__(self, dataset: str, data_root: Path, searched: list[Path], expected: str,
                 download: str):
        self.dataset, self.searched, self.download = dataset, searched, download
        folders = "; ".join(str(folder.absolute()) for folder in searched)
        super().__init__(
            "data_root", str(data_root),
            f"no {dataset} files were found. Searched, in order: {folders} (a folder must hold "
            f"{expected}). Download: {download}. Put the files in one of these folders (data_root "
            f"can be set to another folder).")


datasets: Registry[DatasetInfo] = Registry("dataset")

# Where Debian's dataset-fashion-mnist package installs the four IDX .gz files.
FASHION_MNIST_SYSTEM_DIRS: list[Path] = [Path("/usr/share/datasets/fashion-mnist")]
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_dataset(name: str, data_root: str | Path = "data") -> ArrayDataset:
    """Load the dataset registered as `name`, looking for its files under `data_root`."""
    return datasets.get(name).load(Path(data_root).expanduser())


# ---------------------------------------------------------------- arrays -> ArrayDataset


def _standardise(train_x: torch.Tensor, test_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract the train set's per-channel mean from both sets and divide by its per-channel
    (population) std, in place; a constant channel is divided by 1."""
    std, mean = torch.std_mean(train_x, dim=(0, 2, 3), correction=0, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return train_x.sub_(mean).div_(std), test_x.sub_(mean).div_(std)


def _tensor(value: Any, field: str) -> torch.Tensor:
    """`value` (tensor, numpy array or nested list) as a detached real-valued tensor."""
    try:
        tensor = torch.as_tensor(value).detach()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ConfigError(field, type(value).__name__, "a torch tensor or numpy array of numbers") from error
    if tensor.dtype.is_complex or tensor.dtype == torch.bool:
        raise ConfigError(field, f"an array of dtype {tensor.dtype}", "real numbers")
    return tensor


def _images(value: Any, field: str) -> torch.Tensor:
    """`value` as a float32 (N, C, H, W) copy: (N, H, W) gains a channel axis and (N, D)
    feature vectors become (N, 1, 1, D)."""
    x = _tensor(value, field)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 2:
        x = x[:, None, None]
    elif x.ndim != 4:
        raise ConfigError(field, f"an array of shape {tuple(x.shape)}",
                          "(N, C, H, W) images, (N, H, W) one-channel images or (N, D) features")
    if len(x) == 0:
        raise ConfigError(field, "0 samples", "at least one sample")
    x = x.to(torch.float32, copy=True)
    if not torch.isfinite(x).all():
        raise ConfigError(field, "an array holding NaN or inf", "finite numbers")
    return x


def _labels(value: Any, field: str, x_field: str, count: int) -> torch.Tensor:
    """`value` as int64 class labels, one per sample of `x_field`."""
    y = _tensor(value, field)
    if y.shape != (count,):
        raise ConfigError(field, f"labels of shape {tuple(y.shape)}",
                          f"one label per {x_field} sample, shape ({count},)")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise ConfigError(field, "labels with fractions", "whole-number class labels")
    return y.to(torch.int64)


def _num_classes(given: int | None, train_y: torch.Tensor, test_y: torch.Tensor) -> int:
    """`given`, or the largest label + 1 when None, after checking every label is below it."""
    if given is None:
        given = int(max(train_y.max(), test_y.max())) + 1
    elif isinstance(given, bool) or not isinstance(given, Integral) or given < 1:
        raise ConfigError("num_classes", given, "a whole number >= 1, or None to count the labels")
    for field, y in (("train_y", train_y), ("test_y", test_y)):
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= given:
            raise ConfigError(field, f"labels {low}..{high}", f"class labels in 0..{given - 1}")
    return int(given)


def _to_dataset(name: str, train_x: Any, train_y: Any, test_x: Any, test_y: Any,
                num_classes: int | None) -> ArrayDataset:
    """Validate arrays and build a standardised ArrayDataset from them."""
    train_x, test_x = _images(train_x, "train_x"), _images(test_x, "test_x")
    if test_x.shape[1:] != train_x.shape[1:]:
        raise ConfigError("test_x", f"samples of shape {tuple(test_x.shape[1:])}",
                          f"the sample shape of train_x, {tuple(train_x.shape[1:])}")
    train_y = _labels(train_y, "train_y", "train_x", len(train_x))
    test_y = _labels(test_y, "test_y", "test_x", len(test_x))
    num_classes = _num_classes(num_classes, train_y, test_y)
    train_x, test_x = _standardise(train_x, test_x)
    return ArrayDataset(name, train_x, train_y, test_x, test_y, num_classes)


# ---------------------------------------------------------------- finding files


def _first_complete(folders: list[Path], is_complete: Callable[[Path], bool]) -> Path | None:
    return next((folder for folder in folders if is_complete(folder)), None)


def _try_download(download: Callable[[Any], object]) -> str:
    """Run `download(torchvision)` if torchvision imports; say what happened."""
    try:
        import torchvision
    except Exception as error:  # noqa: BLE001 - a broken install is reported, not raised
        if isinstance(error, ModuleNotFoundError) and error.name == "torchvision":
            return "torchvision is not installed, so no download was tried"
        return f"torchvision could not be imported ({type(error).__name__}: {error}), so no download was tried"
    try:
        download(torchvision)
    except Exception as error:  # noqa: BLE001 - e.g. no network; named in the error message
        return f"the torchvision download failed ({type(error).__name__}: {error})"
    return "torchvision downloaded, but the expected files were still missing afterwards"


def _find_or_download(dataset: str, data_root: Path, folders: list[Path],
                      is_complete: Callable[[Path], bool], expected: str,
                      download: Callable[[Any], object]) -> Path:
    """The first of `folders` that holds the dataset's files, downloading through torchvision
    (into data_root) when none does; DatasetNotFoundError names every folder otherwise."""
    found = _first_complete(folders, is_complete)
    if found is None:
        outcome = _try_download(download)
        found = _first_complete(folders, is_complete)
        if found is None:
            raise DatasetNotFoundError(dataset, data_root, folders, expected, outcome)
    return found


# ---------------------------------------------------------------- file formats


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped when its name ends in .gz): magic 0 0 <type> <ndim>, then ndim
    big-endian int32 dimensions, then the values."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        raw = bytearray(file.read())  # writable, so torch can share the buffer
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ConfigError("data_root", str(path), "an IDX file (magic number 0x00 0x00 <type> <ndim>)")
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    start = 4 + 4 * ndim
    if len(raw) - start != int(np.prod(shape)) * dtype.itemsize:
        raise ConfigError("data_root", str(path), f"an IDX file whose data fills its shape {shape}")
    values = np.frombuffer(raw, dtype, offset=start).reshape(shape)
    return values.astype(dtype.newbyteorder("="), copy=False)  # torch needs native byte order


def _idx_path(folder: Path, stem: str) -> Path | None:
    """`folder/stem.gz`, else the uncompressed `folder/stem`, else None."""
    return next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)


def _has_fashion_mnist(folder: Path) -> bool:
    return all(_idx_path(folder, stem) for stem in FASHION_MNIST_FILES)


def _fashion_mnist_folders(data_root: Path) -> list[Path]:
    return [data_root / "fashion_mnist", data_root / "FashionMNIST" / "raw", *FASHION_MNIST_SYSTEM_DIRS]


def _read_cifar(folder: Path, files: tuple[str, ...], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels from CIFAR python batches: pickled dicts with
    b"data" (N, 3072) rows holding the red, green and blue 32x32 planes, and labels under
    `label_key`. (pickle is the format itself; only open files you trust.)"""
    xs, ys = [], []
    for name in files:
        with open(folder / name, "rb") as file:
            batch = pickle.load(file, encoding="bytes")
        data = np.asarray(batch.get(b"data") if isinstance(batch, dict) else None)
        if data.ndim != 2 or data.shape[1] != 3072 or label_key not in batch:
            raise ConfigError("data_root", str(folder / name),
                              f"a CIFAR batch: a dict with b'data' (N, 3072) and {label_key!r}")
        xs.append(data.astype(np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------- built-in loaders


def _load_digits(data_root: Path) -> ArrayDataset:
    """sklearn's 8x8 digits (values 0..16) with a fixed stratified 80/20 train/test split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        digits.images[:, None], digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    return _to_dataset("digits", train_x, train_y, test_x, test_y, 10)


def _load_fashion_mnist(data_root: Path) -> ArrayDataset:
    """Fashion-MNIST from its four IDX files (.gz or uncompressed)."""
    folder = _find_or_download(
        "fashion_mnist", data_root, _fashion_mnist_folders(data_root), _has_fashion_mnist,
        expected=", ".join(f"{stem}.gz" for stem in FASHION_MNIST_FILES) + " (or uncompressed)",
        download=lambda tv: tv.datasets.FashionMNIST(str(data_root), train=True, download=True))
    train_x, train_y, test_x, test_y = (_read_idx(_idx_path(folder, stem)) for stem in FASHION_MNIST_FILES)
    return _to_dataset("fashion_mnist", train_x[:, None], train_y, test_x[:, None], test_y, 10)


def _load_cifar(name: str, folder_name: str, train_files: tuple[str, ...], test_file: str,
                label_key: bytes, num_classes: int, torchvision_class: str,
                data_root: Path) -> ArrayDataset:
    """CIFAR from `data_root/folder_name`, downloaded there by torchvision if missing.

    torchvision's CIFAR classes are used only to download: they md5-check every batch file
    when constructed, so they cannot read files in the same format written by anyone else."""
    files = (*train_files, test_file)
    folder = _find_or_download(
        name, data_root, [data_root / folder_name],
        lambda candidate: all((candidate / f).is_file() for f in files),
        expected=", ".join(files),
        download=lambda tv: getattr(tv.datasets, torchvision_class)(str(data_root), train=True, download=True))
    train_x, train_y = _read_cifar(folder, train_files, label_key)
    test_x, test_y = _read_cifar(folder, (test_file,), label_key)
    return _to_dataset(name, train_x, train_y, test_x, test_y, num_classes)


# CIFAR on disk: name -> (folder under data_root, train files, test file).
CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch"),
    "cifar100": ("cifar-100-python", ("train",), "test"),
}

for _info, _doc in [
    (DatasetInfo("digits", 10, (1, 8, 8), _load_digits),
     "sklearn's bundled 8x8 digits: 1,797 images, 10 classes, fixed 80/20 split, no download"),
    (DatasetInfo("fashion_mnist", 10, (1, 28, 28), _load_fashion_mnist),
     "Fashion-MNIST: 28x28 grey clothing images, 60k train / 10k test, 10 classes (IDX files)"),
    (DatasetInfo("cifar10", 10, (3, 32, 32), partial(
        _load_cifar, "cifar10", *CIFAR_FILES["cifar10"], b"labels", 10, "CIFAR10")),
     "CIFAR-10: 32x32 colour images, 50k train / 10k test, 10 classes (python batches)"),
    (DatasetInfo("cifar100", 100, (3, 32, 32), partial(
        _load_cifar, "cifar100", *CIFAR_FILES["cifar100"], b"fine_labels", 100, "CIFAR100")),
     "CIFAR-100: 32x32 colour images, 50k train / 10k test, 100 fine classes (python files)"),
]:
    datasets.register(_info.name, _doc)(_info)

BUILT_IN_DATASETS = frozenset(datasets.names())


def missing_files(name: str, data_root: str | Path = "data") -> str | None:
    """Why `name`'s files are not on disk, or None when they are (or it needs none: digits, your
    arrays). Only looks for the files: loads nothing and downloads nothing, so it is cheap."""
    root = Path(data_root).expanduser()
    if name == "fashion_mnist":
        folders, expected = _fashion_mnist_folders(root), "the four Fashion-MNIST IDX files"
        found = _first_complete(folders, _has_fashion_mnist)
    elif name in CIFAR_FILES:
        folder, train_files, test_file = CIFAR_FILES[name]
        folders, files = [root / folder], (*train_files, test_file)
        expected = ", ".join(files)
        found = _first_complete(folders, lambda f: all((f / file).is_file() for file in files))
    else:
        return None
    if found is not None:
        return None
    searched = "; ".join(str(folder.absolute()) for folder in folders)
    return f"no {name} files found: looked in {searched} for {expected}"


# ---------------------------------------------------------------- user arrays


def from_arrays(name: str, train_x: Any, train_y: Any, test_x: Any, test_y: Any,
                num_classes: int | None = None) -> ArrayDataset:
    """A dataset from your own tensors or numpy arrays, registered as `name` for this process.

    x: (N, C, H, W) images, (N, H, W) one-channel images or (N, D) feature vectors (stored as
    (N, 1, 1, D)); y: integer labels in 0..num_classes-1 (num_classes defaults to the largest
    label + 1). x is standardised per channel with the train statistics, like every dataset.
    Registering a name again replaces the earlier arrays; built-in names cannot be shadowed.
    """
    if not isinstance(name, str) or not name or name in BUILT_IN_DATASETS:
        raise ConfigError("name", name, "a new dataset name, not one of the built-in "
                          f"{', '.join(sorted(BUILT_IN_DATASETS))}")
    dataset = _to_dataset(name, train_x, train_y, test_x, test_y, num_classes)
    datasets.register(name, f"your arrays: {len(dataset.train_y)} train / {len(dataset.test_y)} "
                            f"test samples, {dataset.num_classes} classes", replace=True)(
        DatasetInfo(name, dataset.num_classes, dataset.input_shape, lambda _root: dataset))
    return dataset
