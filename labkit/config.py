"""RunConfig: one frozen dataclass for a whole experiment, and its validation: every field's
type, then its range, then the fields together (tasks per class, method x loss x backbone,
the method's own parameters), before anything is loaded or run."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from labkit.data import DATASETS, SCENARIOS, check_tasks
from labkit.data.class_orders import check_class_order
from labkit.data.scenarios import VAL_SPLITS
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.models import BACKBONES
from labkit.errors import ConfigError
from labkit.registry import RenamedValueWarning, check_number

# the names a config is written in: 1 (a config without the field), 2 since EWC's fisher_labels
# say what they compute (labkit.curvature.fisher: "true" was the dataset's labels, "exact" the true Fisher)
CONFIG_VERSION = 2
OPTIMIZERS = ("sgd", "adam")
HEAD_LAYOUTS = ("per-task", "all-classes")
# the methods Mammoth runs with one head over all classes, whose losses read that head as a whole
ALL_CLASSES_METHODS = ("finetune", "joint", "er", "der", "derpp")
DEVICES = ("auto", "cpu", "cuda")
LOGS = ("tensorboard", "mlflow")  # RunConfig.log: the tools a run can log to (comma-separated)
SEED_MAX = 2**32 - 1  # numpy's seeds are 0 .. 2**32 - 1
EPOCHS_MAX = 10_000  # the most epochs of a task, and of a pre-training (labkit.pretrain): typos, not plans
# whole-number fields: (lowest, highest) allowed (None: no upper bound)
WHOLE_NUMBERS = {"tasks": (1, None), "epochs": (1, EPOCHS_MAX), "batch_size": (1, 1_000_000),
                 "lr_patience": (0, 10_000), "seed": (0, SEED_MAX), "knn_k": (0, None)}
# real fields: their bounds (ge/gt: lowest, closed/open; le/lt: highest, closed/open)
NUMBERS = {"lr": dict(gt=0, le=1000), "momentum": dict(ge=0, lt=1), "weight_decay": dict(ge=0, le=1000),
           "val_fraction": dict(ge=0, lt=1), "lr_factor": dict(gt=1), "lr_min": dict(ge=0)}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; the same config (and seed) gives the same result on CPU.

    FACIL's schedule: with lr_patience > 0 (needs val_fraction > 0), the learning rate is divided
    by lr_factor after lr_patience epochs without a better validation loss, the best model so far
    is restored, and the task stops once the rate falls below lr_min; the best model is kept at
    the end of the task. freeze_old_heads keeps heads 0..t-1 fixed while task t is learned.

    class_order: which classes form which task (labkit.data.class_orders): "seeded" (labkit's
    own draw for the seed), "facil" (FACIL's shuffle for the seed, as the released "Rethinking
    softmax" code draws it) or an explicit order, every class id once ("2,0,1,..."; a list is
    turned into that text). val_split: how val_fraction is held out of each task's training
    data: "random" (of the task's samples) or "stratified" (of each class, FACIL's).

    head_layout: "per-task" (labkit's: a head is added for each task's classes) or, in class-IL,
    "all-classes" (Mammoth's: one head over every class of the dataset from the first task on,
    so the class-IL loss covers future classes too and pushes their logits down, and DER stores
    the logits of every class); for the methods Mammoth runs that way (ALL_CLASSES_METHODS).

    pretrained: "" (random initialisation), the path of a pre-trained file made by `python -m
    labkit pretrain`, "auto" (pre-train the backbone on a held-out 20% of this dataset's training
    images, which the run then leaves out) or "auto:<dataset>" (pre-train on all of another
    dataset of the same image shape); see labkit.experiment.pretrain. knn_k: neighbours of the k-NN probe
    of the features after each task (0: no probe). track_curvature: after each task, record how
    much Fisher curvature is left on the training images seen so far (its largest eigenvalue and
    EWC's diagonal total, labkit.curvature.tracking) in RunResult.curvature; measurement only,
    it changes nothing about training and is not counted in task_seconds.

    The GPU path (each off by default, so a CPU run is exactly what it was): augment (random crop
    with 4-pixel padding and horizontal flip, on the device, per batch), amp (bf16 autocast of
    the training step on CUDA, for methods whose terms it keeps correct), channels_last (conv
    tensors in NHWC) and compile (torch.compile the backbone).

    log: where else the run writes its scalars besides its own files, comma-separated: "" (nowhere),
    "tensorboard" (event files in <run folder>/tensorboard, labkit.experiment.tensorboard_log),
    "mlflow" (a SQLite tracking store beside the run folders, labkit.experiment.mlflow_log; the
    optional extra) or both; it needs a run folder. Logging changes nothing about training.

    config_version: the names the config is written in (CONFIG_VERSION; every config.json
    carries it). A stored config of an older version, or without the field, is read by
    from_dict in today's names, with a RenamedValueWarning for each value read under a new one.
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
    class_order: str = "seeded"
    val_fraction: float = 0.0
    val_split: str = "random"
    freeze_old_heads: bool = False
    head_layout: str = "per-task"
    lr_patience: int = 0
    lr_factor: float = 3.0
    lr_min: float = 1e-4
    device: str = "auto"
    data_root: str = "data"
    pretrained: str = ""
    knn_k: int = 10
    track_curvature: bool = False
    augment: bool = False
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    log: str = ""
    method_params: dict[str, Any] = field(default_factory=dict)
    config_version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.class_order, (list, tuple)):  # an explicit order given as a list: its one spelling
            text = ",".join(str(c) for c in self.class_order)
            object.__setattr__(self, "class_order", text if text else self.class_order)

    def validate(self) -> "RunConfig":
        """Raise ConfigError (field, value, what is valid) on the first bad field; else self.

        Every field is checked, its type before its range and before any other check reads it:
        names are registered strings, whole numbers are ints (not bools), every number is finite
        (no NaN or inf) and within its bounds, seed fits numpy's 0 .. 2**32 - 1, data_root is a
        non-empty path, pretrained "" / "auto" / "auto:<dataset>" / an existing pre-trained file,
        method_params a dict of the method's own parameters, each within its range, config_version
        today's (from_dict reads older ones). Loads nothing.
        """
        if type(self.config_version) is not int or self.config_version != CONFIG_VERSION:
            raise ConfigError("config_version", self.config_version, f"{CONFIG_VERSION}, the names this labkit "
                              "writes (RunConfig.from_dict reads a stored config of an older version)")
        for name, registry in (("dataset", DATASETS), ("scenario", SCENARIOS), ("backbone", BACKBONES),
                               ("method", METHODS), ("loss", LOSSES)):
            registry.get(getattr(self, name))
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("val_split", self.val_split, VAL_SPLITS)
        _choice("head_layout", self.head_layout, HEAD_LAYOUTS)
        check_class_order(self.class_order, DATASETS.get(self.dataset).num_classes)
        _choice("device", self.device, DEVICES)
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device", self.device, "no CUDA device is available here: use 'auto' or 'cpu'")
        for name, (low, high) in WHOLE_NUMBERS.items():
            check_number(name, getattr(self, name), integer=True, ge=low, le=high)
        for name, bounds in NUMBERS.items():
            check_number(name, getattr(self, name), **bounds)
        for name in ("freeze_old_heads", "track_curvature", "augment", "amp", "channels_last", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, getattr(self, name), "True or False")
        check_log(self.log)
        if self.head_layout == "all-classes":
            for name, ok, valid in (("scenario", self.scenario == "class-il", "class-il"),
                                    ("method", self.method in ALL_CLASSES_METHODS, ", ".join(ALL_CLASSES_METHODS)),
                                    ("freeze_old_heads", self.freeze_old_heads is False, "False")):
                if not ok:
                    raise ConfigError(name, getattr(self, name), f"{valid} with head_layout 'all-classes' "
                                      "(Mammoth's one head over every class, for its class-IL replay baselines)")
        if self.lr_patience and not self.val_fraction:
            raise ConfigError("lr_patience", self.lr_patience, "needs a validation split: set val_fraction > 0")
        check_folder("data_root", self.data_root)
        _pretrained(self.pretrained)
        if not isinstance(self.method_params, dict) or not all(isinstance(k, str) for k in self.method_params):
            raise ConfigError("method_params", self.method_params, "a dict of parameter name (str) -> value")
        check_tasks(self.scenario, self.tasks, DATASETS.get(self.dataset).num_classes)
        method = METHODS.get(self.method)
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
        """The config of a dict of fields (to_dict's, a stored config.json), in today's names
        (with_current_names: a dict without config_version was written in version 1's); unknown
        keys are refused here, the values by validate()."""
        if not isinstance(d, dict) or not all(isinstance(key, str) for key in d):
            raise ConfigError("config", d, "a dict of RunConfig field names (str) -> values")
        d = with_current_names(d)
        names = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in names:
                raise ConfigError(key, d[key], f"not a RunConfig field; fields are {', '.join(sorted(names))}")
        return cls(**d)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)


def with_current_names(stored: dict[str, Any], where: str = "a stored config") -> dict[str, Any]:
    """`stored` (a config's fields as written) in today's names: when its config_version (1 when
    absent) is older than CONFIG_VERSION, each method parameter value renamed since is replaced
    by its name now (Param.renamed), with a RenamedValueWarning naming `where`, the value and what
    it is read as, and config_version becomes CONFIG_VERSION. A value it cannot read is left as
    it is, for validate() to refuse."""
    written_in = stored.get("config_version", 1)
    if type(written_in) is not int or not 1 <= written_in < CONFIG_VERSION:
        return stored
    method, given = stored.get("method"), stored.get("method_params")
    declared = METHODS.get(method).params if method in METHODS else {}
    if isinstance(given, dict):
        stored = {**stored, "method_params": dict(given)}
        for key, value in given.items():
            now = declared[key].name_now(value, written_in) if key in declared else value
            if isinstance(value, str) and now != value:
                stored["method_params"][key] = now
                warnings.warn(f"{where}: method_params.{key}={value!r} is read as {now!r}: it was written in "
                              f"config_version {written_in}'s names, and {method}'s {key} were renamed since "
                              f"({_renames_since(declared[key].renamed, written_in)})", RenamedValueWarning,
                              stacklevel=2)
    return {**stored, "config_version": CONFIG_VERSION}


def _renames_since(renamed: dict[int, dict[str, str]], written_in: int) -> str:
    """"in config_version 2: 'true' -> 'empirical', 'exact' -> 'true'" for the versions after `written_in`."""
    return "; ".join(f"in config_version {v}: " + ", ".join(f"{old!r} -> {new!r}" for old, new in names.items())
                     for v, names in sorted(renamed.items()) if v > written_in)


def split_setting(option: str, item: str, form: str) -> tuple[str, str]:
    """One command-line item "KEY=VALUE" -> (KEY, VALUE), split at its first "=", KEY without the
    spaces around it, VALUE as written: each option reads VALUE in its own syntax (--param one
    value, --grid V1,V2,..., --search DIST:LOW,HIGH). An item with no "=", no KEY or nothing but
    spaces after the "=" is refused as ConfigError(option, item, form), `form` saying what a valid
    item looks like: "grid='lr' is not valid: KEY=V1,V2,... (e.g. method=lwf,lwf-bsr, ...)"."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key or not value.strip():
        raise ConfigError(option, item, form)
    return key, value


def check_log(value: Any) -> None:
    """RunConfig.log: "" or LOGS' names, comma-separated, each once; "mlflow" only where MLflow is installed."""
    valid = f"'' (no logging), or comma-separated, each once: {', '.join(LOGS)}"
    if not isinstance(value, str):
        raise ConfigError("log", value, valid)
    names = value.split(",") if value else []
    if any(n not in LOGS for n in names) or len(set(names)) != len(names):
        raise ConfigError("log", value, valid)
    if "mlflow" in names and importlib.util.find_spec("mlflow") is None:
        raise ConfigError("log", value, "mlflow installed first: pip install -e '.[mlflow]' (the optional extra), or "
                          "log to tensorboard")


def _choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in valid:
        raise ConfigError(name, value, f"choose one of {', '.join(valid)}")


def check_folder(name: str, value: Any) -> None:
    """A folder path: a non-empty string without NUL characters (an empty one would put what is
    kept under it, e.g. data_root's checkpoints/ of pre-trained files, in whatever folder the command
    runs in)."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise ConfigError(name, value, "a folder path: a non-empty string without NUL characters")


def _pretrained(value: Any) -> None:
    """"" (random initialisation), "auto", "auto:<dataset>" or the path of an existing file."""
    valid = (f"'' (none), 'auto', 'auto:<dataset>' with a dataset of: {', '.join(DATASETS)}, "
             "or a checkpoint file made by `python -m labkit pretrain`")
    if not isinstance(value, str) or "\0" in value:
        raise ConfigError("pretrained", value, valid)
    if value.startswith("auto:") and value[5:] not in DATASETS:
        raise ConfigError("pretrained", value, valid)
    if value not in ("", "auto") and not value.startswith("auto:") and not os.path.isfile(value):
        raise ConfigError("pretrained", value, f"no such file; {valid}")
