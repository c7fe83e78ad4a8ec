"""Datasets by name: sklearn's bundled digits, Fashion-MNIST, CIFAR-10/100 and user arrays.

Fashion-MNIST and CIFAR files are looked for on disk first and downloaded through torchvision
only when it is installed; a data_root that is not an existing folder is refused (no silent
fallback to a system copy). CIFAR's pickled batches are read by an unpickler that builds numpy
arrays and plain values only. Every loader returns an ArrayDataset: float32 images (N, C, H, W)
standardised per channel with the train set's statistics (user feature vectors: per feature),
and int64 labels.
"""
from __future__ import annotations

import functools
import gzip
import pickle
from dataclasses import dataclass
from functools import partial
from numbers import Integral
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from labkit.data.composite import pooled_digits_fashion
from labkit.data.types import ArrayDataset
from labkit.errors import ConfigError
from labkit.registry import Registry


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


DATASETS: Registry[DatasetInfo] = Registry("dataset")

# Where Debian's dataset-fashion-mnist package installs the four IDX .gz files.
FASHION_MNIST_SYSTEM_DIRS: list[Path] = [Path("/usr/share/datasets/fashion-mnist")]
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_dataset(name: str, data_root: str | Path = "data") -> ArrayDataset:
    """Load the dataset registered as `name`, looking for its files under `data_root`."""
    return DATASETS.get(name).load(Path(data_root).expanduser())


# ---------------------------------------------------------------- arrays -> ArrayDataset


def _standardise(train_x: torch.Tensor, test_x: torch.Tensor,
                 per_feature: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract the train set's mean from both sets and divide by its (population) std, in place;
    a constant channel or feature is divided by 1. Images: one mean and std per channel, over
    every pixel. Feature vectors (per_feature): one per feature, since features measured in
    different units (wine's proline in the hundreds, its hue near 1) must not share a scale."""
    dims = (0,) if per_feature else (0, 2, 3)
    std, mean = torch.std_mean(train_x, dim=dims, correction=0, keepdim=True)
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
    """Validate arrays and build a standardised ArrayDataset from them: per feature when
    train_x holds (N, D) feature vectors, else per channel."""
    train_x = _tensor(train_x, "train_x")
    per_feature = train_x.ndim == 2
    train_x, test_x = _images(train_x, "train_x"), _images(test_x, "test_x")
    if test_x.shape[1:] != train_x.shape[1:]:
        raise ConfigError("test_x", f"samples of shape {tuple(test_x.shape[1:])}",
                          f"the sample shape of train_x, {tuple(train_x.shape[1:])}")
    train_y = _labels(train_y, "train_y", "train_x", len(train_x))
    test_y = _labels(test_y, "test_y", "test_x", len(test_x))
    num_classes = _num_classes(num_classes, train_y, test_y)
    train_x, test_x = _standardise(train_x, test_x, per_feature)
    return ArrayDataset(name, train_x, train_y, test_x, test_y, num_classes)


# ---------------------------------------------------------------- finding files


@dataclass(frozen=True)
class FileLayout:
    """Where a dataset's files may be, in search order: `in_root` (folders under data_root), then
    `elsewhere` (system-wide copies, searched whatever data_root is); `is_complete(folder)` says
    whether a folder holds every file, `expected` names them."""

    in_root: list[Path]
    elsewhere: list[Path]
    is_complete: Callable[[Path], bool]
    expected: str

    @property
    def folders(self) -> list[Path]:
        return [*self.in_root, *self.elsewhere]


def _first_complete(folders: list[Path], is_complete: Callable[[Path], bool]) -> Path | None:
    return next((folder for folder in folders if is_complete(folder)), None)


def _missing_root(dataset: str, data_root: Path, layout: FileLayout) -> str | None:
    """Why `data_root` cannot be used, or None when it is a folder. A data_root that does not
    exist is refused rather than skipped: otherwise a mistyped folder silently falls back to a
    system copy while the run's stored config names the folder it never read. The message names
    the folder where the files were found instead, so it can be passed."""
    if data_root.is_dir():
        return None
    problem = "is not a folder" if data_root.exists() else "does not exist"
    found = _first_complete(layout.elsewhere, layout.is_complete)
    hint = (f"the {dataset} files were found in {found}: pass that folder as data_root (or create "
            f"this one)" if found else f"create it (a torchvision download goes into it) or pass the "
            f"folder that holds {layout.in_root[0].name}/")
    return f"an existing folder: {data_root.absolute()} {problem}; {hint}"


def _try_download(download: Callable[[Any], object]) -> str:
    """Run `download(torchvision)` if torchvision imports; say what happened."""
    try:
        import torchvision
    except Exception as error:  # noqa: BLE001 - a broken install is reported, not raised
        if isinstance(error, ModuleNotFoundError) and error.name == "torchvision":
            return "torchvision is not installed, so no download was tried (pip install -e \".[vision]\" adds it)"
        return f"torchvision could not be imported ({type(error).__name__}: {error}), so no download was tried"
    try:
        download(torchvision)
    except Exception as error:  # noqa: BLE001 - e.g. no network; named in the error message
        return f"the torchvision download failed ({type(error).__name__}: {error})"
    return "torchvision downloaded, but the expected files were still missing afterwards"


def _find_or_download(dataset: str, data_root: Path, layout: FileLayout,
                      download: Callable[[Any], object]) -> Path:
    """The first of the layout's folders that holds the dataset's files, downloading through
    torchvision (into data_root) when none does; ConfigError when data_root is not a folder,
    DatasetNotFoundError naming every folder searched when the files are nowhere."""
    problem = _missing_root(dataset, data_root, layout)
    if problem:
        raise ConfigError("data_root", str(data_root), problem)
    found = _first_complete(layout.folders, layout.is_complete)
    if found is None:
        outcome = _try_download(download)
        found = _first_complete(layout.folders, layout.is_complete)
        if found is None:
            raise DatasetNotFoundError(dataset, data_root, layout.folders, layout.expected, outcome)
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


def _file_layout(name: str, data_root: Path) -> FileLayout | None:
    """Where the files of built-in dataset `name` are looked for; None for one that reads no
    files (digits, your arrays)."""
    if name in ("fashion_mnist", "digits_fashion8"):  # the composite reads Fashion-MNIST's files
        return FileLayout([data_root / "fashion_mnist", data_root / "FashionMNIST" / "raw"],
                          list(FASHION_MNIST_SYSTEM_DIRS), _has_fashion_mnist,
                          ", ".join(f"{stem}.gz" for stem in FASHION_MNIST_FILES) + " (or uncompressed)")
    if name in CIFAR_FILES:
        folder, train_files, test_file = CIFAR_FILES[name]
        files = (*train_files, test_file)
        return FileLayout([data_root / folder], [], lambda f: all((f / file).is_file() for file in files),
                          ", ".join(files))
    return None


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """What a pickle written by Python 3 at protocol 2 calls to rebuild a bytes object
    (``_codecs.encode(text, "latin1")``); any other codec is refused."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a CIFAR batch holds, so a crafted file cannot run code.

    Dicts, lists, bytes, strings and ints are pickle opcodes of their own; the only globals a
    batch needs are numpy's array reconstruction (the module is ``numpy.core`` in files written
    by numpy 1, ``numpy._core`` by numpy 2) and, in files written by Python 3 at protocol 2,
    ``_codecs.encode`` for bytes (admitted for the latin-1 codec only). Any other global (os.system,
    builtins.eval, subprocess.Popen, ...) raises ForbiddenGlobal before anything is called."""

    ALLOWED: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(1))[0],
        ("numpy._core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(1))[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise ForbiddenGlobal(f"{module}.{name}") from None


class ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle asked for a global that CifarUnpickler does not build."""


def _unpickle_cifar(path: Path) -> Any:
    """The object pickled in `path`, read with CifarUnpickler; ConfigError (field data_root)
    when the file asks for anything else or is not a readable pickle at all."""
    not_cifar = "a CIFAR batch (a pickled dict of numpy arrays, lists and bytes); this file is not one"
    try:
        with open(path, "rb") as file:
            return CifarUnpickler(file, encoding="bytes").load()
    except ForbiddenGlobal as error:
        raise ConfigError("data_root", str(path), f"{not_cifar}: it asks to call {error}, which CIFAR "
                          "batches never hold, so it was not loaded") from None
    except Exception as error:  # noqa: BLE001 - garbage makes pickle raise many kinds of error
        raise ConfigError("data_root", str(path), f"{not_cifar} ({type(error).__name__}: {error})") from None


def _read_cifar(folder: Path, files: tuple[str, ...], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels from CIFAR python batches: pickled dicts with
    b"data" (N, 3072) rows holding the red, green and blue 32x32 planes, and labels under
    `label_key`. The pickles are read by CifarUnpickler, which builds nothing else."""
    xs, ys = [], []
    for name in files:
        batch = _unpickle_cifar(folder / name)
        data = np.asarray(batch.get(b"data") if isinstance(batch, dict) else None)
        if data.ndim != 2 or data.shape[1] != 3072 or data.dtype.kind not in "iu" or label_key not in batch:
            raise ConfigError("data_root", str(folder / name),
                              f"a CIFAR batch: a dict with integer b'data' (N, 3072) and {label_key!r}")
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
        "fashion_mnist", data_root, _file_layout("fashion_mnist", data_root),
        download=lambda tv: tv.datasets.FashionMNIST(str(data_root), train=True, download=True))
    train_x, train_y, test_x, test_y = (_read_idx(_idx_path(folder, stem)) for stem in FASHION_MNIST_FILES)
    return _to_dataset("fashion_mnist", train_x[:, None], train_y, test_x[:, None], test_y, 10)


def _load_cifar(name: str, label_key: bytes, num_classes: int, torchvision_class: str,
                data_root: Path) -> ArrayDataset:
    """CIFAR from its folder under data_root (CIFAR_FILES), downloaded there by torchvision if
    missing.

    torchvision's CIFAR classes are used only to download: they md5-check every batch file
    when constructed, so they cannot read files in the same format written by anyone else."""
    _, train_files, test_file = CIFAR_FILES[name]
    folder = _find_or_download(
        name, data_root, _file_layout(name, data_root),
        download=lambda tv: getattr(tv.datasets, torchvision_class)(str(data_root), train=True, download=True))
    train_x, train_y = _read_cifar(folder, train_files, label_key)
    test_x, test_y = _read_cifar(folder, (test_file,), label_key)
    return _to_dataset(name, train_x, train_y, test_x, test_y, num_classes)


def load_digits_fashion8(data_root: Path) -> ArrayDataset:
    """digits_fashion8 (labkit.data.composite; needs Fashion-MNIST's files). Built once per
    process and data root (reading and pooling Fashion-MNIST took 1.9 CPU-s here, which every
    run of a sweep would pay again); nothing in labkit changes a loaded dataset's tensors."""
    return _digits_fashion8(str(Path(data_root).expanduser().resolve()))


@functools.lru_cache(maxsize=2)
def _digits_fashion8(data_root: str) -> ArrayDataset:
    pooled = pooled_digits_fashion(load_dataset("digits", data_root), load_dataset("fashion_mnist", data_root))
    return _to_dataset("digits_fashion8", *pooled)


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
    (DatasetInfo("digits_fashion8", 20, (1, 8, 8), load_digits_fashion8),
     "digits (classes 0-9) and Fashion-MNIST area-averaged to 8x8 (classes 10-19, 600 train / 200 test "
     "per class): 20 classes, 10 tasks of 2 on a CPU (labkit.data.composite)"),
    (DatasetInfo("cifar10", 10, (3, 32, 32), partial(
        _load_cifar, "cifar10", b"labels", 10, "CIFAR10")),
     "CIFAR-10: 32x32 colour images, 50k train / 10k test, 10 classes (python batches)"),
    (DatasetInfo("cifar100", 100, (3, 32, 32), partial(
        _load_cifar, "cifar100", b"fine_labels", 100, "CIFAR100")),
     "CIFAR-100: 32x32 colour images, 50k train / 10k test, 100 fine classes (python files)"),
]:
    DATASETS.register(_info.name, _doc)(_info)

BUILT_IN_DATASETS = frozenset(DATASETS.names())


def missing_files(name: str, data_root: str | Path = "data") -> str | None:
    """Why `name` cannot be loaded from `data_root`, or None when its files are there (or it
    needs none: digits, your arrays). The same checks as loading (a data_root that is not an
    existing folder is refused, naming where the files are instead), but it only looks: loads
    nothing and downloads nothing, so it is cheap."""
    root = Path(data_root).expanduser()
    layout = _file_layout(name, root)
    if layout is None:
        return None
    problem = _missing_root(name, root, layout)
    if problem:
        return f"data_root {problem}"
    if _first_complete(layout.folders, layout.is_complete) is not None:
        return None
    searched = "; ".join(str(folder.absolute()) for folder in layout.folders)
    return f"no {name} files found: looked in {searched} for {layout.expected}"


# ---------------------------------------------------------------- user arrays


def from_arrays(name: str, train_x: Any, train_y: Any, test_x: Any, test_y: Any,
                num_classes: int | None = None) -> ArrayDataset:
    """A dataset from your own tensors or numpy arrays, registered as `name` for this process.

    x: (N, C, H, W) images, (N, H, W) one-channel images or (N, D) feature vectors (stored as
    (N, 1, 1, D)); y: integer labels in 0..num_classes-1 (num_classes defaults to the largest
    label + 1). x is standardised with the train statistics: images per channel, like every
    dataset, and feature vectors per feature.
    Registering a name again replaces the earlier arrays; built-in names cannot be shadowed.
    """
    if not isinstance(name, str) or not name or name in BUILT_IN_DATASETS:
        raise ConfigError("name", name, "a new dataset name, not one of the built-in "
                          f"{', '.join(sorted(BUILT_IN_DATASETS))}")
    dataset = _to_dataset(name, train_x, train_y, test_x, test_y, num_classes)
    DATASETS.register(name, f"your arrays: {len(dataset.train_y)} train / {len(dataset.test_y)} "
                            f"test samples, {dataset.num_classes} classes", replace=True)(
        DatasetInfo(name, dataset.num_classes, dataset.input_shape, lambda _root: dataset))
    return dataset
