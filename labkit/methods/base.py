"""The method contract: a method adds terms to the training objective and does work between
tasks; the runner owns the optimiser loop and the evaluation, so every method is measured the
same way (the FACIL arrangement; docs/METHODS.md, section 1, and a section for each method).

    prepare_model(model, scenario)   change the built model once, before any task (DLCFT linearises)
    before_task(ctx)            snapshot a teacher, reset buffers
    heads_grown(ctx)            task t's head exists now (DLCFT starts new units at zero)
    training_data(ctx)          the (x, y) the task trains on (joint: all tasks so far)
    training_loss(ctx, x, y)    the scalar loss of one batch
    after_step(ctx, x, y)       the batch was trained on: store it (replay memories)
    after_task(ctx)             curvature, importance, exemplars
    state_dict() / load_state_dict(d)   what must survive a resume

One training step of the runner (labkit.experiment.runner.train_task), for every method:
  (a) training_loss(ctx, x, y): the batch's loss; a replay method draws its replay batch here,
      from the memory as it was before this step, so a batch is never replayed in its own step;
  (b) the optimiser step on that loss (zero_grad, backward, step);
  (c) after_step(ctx, x, y) with the same x, y: a replay method offers the batch to its memory.
training_loss writes nothing: the runner's validation pass calls it too (under torch.no_grad),
and nothing there reaches the memory. This is Mammoth's order (sample, step, add_data).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from labkit.data.types import Scenario, Task
from labkit.losses import ClassificationLoss
from labkit.errors import ConfigError
from labkit.registry import Registry, check_number, parse_bool


@dataclass(frozen=True)
class Param:
    """A hyper-parameter a method declares: default, meaning, and what values are allowed.

    choices: the allowed values (text parameters). Numbers: finite, of the default's type (an
    int parameter takes no fractional value), within the bounds given: >= ge, > gt, <= le,
    < lt (None: unbounded), e.g. a temperature Param(2.0, "...", gt=0), a share ge=0, le=1.

    renamed: {v: {old name: name since v}} for text values that RunConfig's config_version v
    renamed. A config written before v is read through it (labkit.config.with_current_names);
    an old name that names nothing now is refused with its new name.

    source (keyword, required, not empty): where the default comes from: the paper (page,
    section, table, equation), the authors' code (repository file and line), or "chosen here"
    with the test or benchmark that chose or checks it (docs/METHODS.md lists them all).
    """

    default: Any
    doc: str
    source: str = field(kw_only=True)
    choices: tuple | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    renamed: dict[int, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(f"Param({self.default!r}, {self.doc!r}) names no source for its default")
        self.coerce("default", self.default)  # a declaration whose default it would refuse is a bug

    def coerce(self, field: str, value: Any) -> Any:
        """`value` converted to the default's type (the command line passes strings) and checked
        against the choices or the bounds; ConfigError naming `field`, the value and the range."""
        kind = type(self.default)
        if kind is bool:
            try:
                return parse_bool(value)
            except ValueError:
                raise ConfigError(field, value, "true or false") from None
        if kind in (int, float):
            return self.checked_number(field, value)
        if self.choices is not None and (not isinstance(value, kind) or value not in self.choices):
            raise ConfigError(field, value, f"choose one of {', '.join(map(str, self.choices))}"
                                            f"{self.new_name_hint(value)}")
        if not isinstance(value, kind):
            raise ConfigError(field, value, f"expected a {kind.__name__}")
        return value

    def name_now(self, value: Any, written_in: int) -> Any:
        """What a value stored by a config of config_version `written_in` is called now: every
        later version's renaming applied in turn; any other value unchanged."""
        for version in sorted(v for v in self.renamed if v > written_in):
            if isinstance(value, str):
                value = self.renamed[version].get(value, value)
        return value

    def new_name_hint(self, value: Any) -> str:
        """" ('exact' is called 'true' since config_version 2)" for an old name that names no
        choice now; else ""."""
        for version, names in sorted(self.renamed.items()):
            if isinstance(value, str) and value in names and value not in (self.choices or ()):
                return f" ({value!r} is called {names[value]!r} since config_version {version})"
        return ""

    def checked_number(self, field: str, value: Any) -> int | float:
        """A number (or its text) as the default's type, refused unless finite, whole for an int
        parameter, and within the bounds."""
        integer = type(self.default) is int
        try:
            return check_number(field, _as_number(value, integer), integer=integer,
                                ge=self.ge, gt=self.gt, le=self.le, lt=self.lt)
        except ConfigError as error:
            raise ConfigError(field, value, error.valid) from None


def _as_number(value: Any, integer: bool) -> Any:
    """The int (integer) or float that `value` stands for: its text ("5" for an int; "0.5",
    "1e-3" for a float) or a float with no fraction (2.0 for an int). Anything else is returned
    as it is, for check_number to refuse: "1.5", "2.0" or 1.5 for an int, "x", None, a bool."""
    if isinstance(value, str):
        try:
            return int(value) if integer else float(value)
        except ValueError:
            return value
    if integer and isinstance(value, float) and value.is_integer():
        return int(value)
    if not integer and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # beyond float's range
            return value
    return value


@dataclass
class TaskContext:
    """What a method sees while task `t` is learned."""

    model: torch.nn.Module
    scenario: Scenario
    t: int
    loss: ClassificationLoss
    device: torch.device
    sync_free: bool = False  # task-IL losses without a host sync (the runner sets it on CUDA)

    @property
    def task(self) -> Task:
        return self.scenario.tasks[self.t]

    def task_loss(self, head_logits: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """The classification loss on a batch of incremental labels y.

        class-IL and data-IL: over all heads so far, concatenated (task-agnostic training).
        task-IL: each sample within its own task's head (labels made local to the head), the
        per-task losses weighted by their share of the batch, so replayed or joint data of
        several tasks is handled too.
        """
        if self.scenario.kind != "task-il":
            return self.loss.fn(torch.cat(head_logits, dim=1), y)
        offsets = self.scenario.offsets(y.device)
        task_of = torch.searchsorted(offsets, y, right=True) - 1
        sizes = {z.shape[1] for z in head_logits}
        if self.sync_free and len(sizes) == 1:
            # every sample's own head, gathered: one loss over the batch, no data-dependent shapes
            # (the same mean as the per-task sum below, summed in another order)
            own = torch.stack(head_logits)[task_of, torch.arange(len(y), device=y.device)]
            return self.loss.fn(own, y - offsets[task_of])
        total = y.new_zeros((), dtype=head_logits[0].dtype)
        for u in task_of.unique().tolist():
            mask = task_of == u
            local = y[mask] - self.scenario.tasks[u].offset
            total = total + self.loss.fn(head_logits[u][mask], local) * mask.sum() / len(y)
        return total

    def old_heads(self, head_logits: list[torch.Tensor]) -> list[torch.Tensor]:
        """The outputs that knew the old tasks: heads 0..t-1, or, in data-IL, the one shared head."""
        return head_logits[: self.t] if self.scenario.multi_head else head_logits[:1]

    def old_logits(self, head_logits: list[torch.Tensor]) -> torch.Tensor:
        """The old heads' logits concatenated (what joint KD reads)."""
        return torch.cat(self.old_heads(head_logits), dim=1)

    def loss_slice(self) -> slice:
        """Which columns of the concatenated logits the current task's loss reads."""
        if self.scenario.kind == "task-il":
            return slice(self.task.offset, self.task.offset + self.task.num_classes)
        return slice(0, None)


class Method:
    """Fine-tuning: the plain classification loss, nothing else. Subclasses add terms."""

    name: ClassVar[str] = "finetune"
    losses: ClassVar[tuple[str, ...] | None] = None  # None: any classification loss
    params: ClassVar[dict[str, Param]] = {}
    head_kind: ClassVar[str] = "linear"  # the kind of task heads the model is built with
    # RunConfig fields the method is meant to train with on the quick datasets (its paper's
    # recipe scaled to a CPU); the app starts its widgets from them
    recipe: ClassVar[dict[str, Any]] = {}
    # whether bf16 autocast (RunConfig.amp) keeps this method's training loss correct; False for
    # methods whose quadratic penalties would lose their small differences in bf16
    autocast_safe: ClassVar[bool] = True

    def __init__(self, **params: Any):
        for key, value in self.checked_params(params).items():
            setattr(self, key, value)

    @classmethod
    def checked_params(cls, given: dict[str, Any]) -> dict[str, Any]:
        """All declared params, given values coerced and checked, defaults for the rest."""
        unknown = sorted(set(given) - set(cls.params))
        if unknown:
            valid = ", ".join(cls.params) or "none"
            raise ConfigError("method_params", unknown[0], f"{cls.name} takes: {valid}")
        return {k: p.coerce(f"method_params.{k}", given[k]) if k in given else p.default
                for k, p in cls.params.items()}

    @classmethod
    def loss_problem(cls, loss: str) -> str | None:
        """Why this method cannot train with the named classification loss, or None if it can."""
        if cls.losses is not None and loss not in cls.losses:
            return f"method {cls.name} uses one of: {', '.join(cls.losses)}"
        return None

    @classmethod
    def backbone_problem(cls, backbone: str) -> str | None:
        """Why this method cannot use the named backbone, or None if it can."""
        return None

    def prepare_model(self, model: torch.nn.Module, scenario: Scenario) -> None:
        """Change the freshly built (and pre-trained, if asked) model before any task; a resumed
        run calls it too, before loading its checkpoint."""

    def before_task(self, ctx: TaskContext) -> None:
        pass

    def heads_grown(self, ctx: TaskContext) -> None:
        """Task t's head has been added (before_task runs before it exists)."""

    def training_data(self, ctx: TaskContext) -> tuple[torch.Tensor, torch.Tensor]:
        return ctx.task.train_x, ctx.task.train_y

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ctx.task_loss(ctx.model.head_logits(x), y)

    def after_step(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> None:
        """Called once after each optimiser step with the batch that step's training_loss was
        given (the same tensors), never after a validation pass; nothing by default."""

    def after_task(self, ctx: TaskContext) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A teacher: a copy of `model` in eval mode with no parameter requiring gradients."""
    return copy.deepcopy(model).eval().requires_grad_(False)


METHODS: Registry[type[Method]] = Registry("method")


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add a Method subclass to `METHODS` under its `name`."""
    doc = (cls.__doc__ or "").strip().splitlines()[0]
    return METHODS.register(cls.name, doc)(cls)


# One short, human-readable title per registered method (what the app's method list shows beside
# the name; tests/app/test_app.py checks that every method has one). The -s/-sr/-br/-br2/-bsr
# variants are the "Rethinking softmax" remedies (labkit/methods/softmax_remedies.py; LUCIR's
# reading of them in labkit/methods/lucir.py).
TITLES = {
    "finetune": "Fine-tuning: the new task's loss alone, no protection",
    "joint": "Joint training on every task so far (the upper bound)",
    "ewc": "Elastic Weight Consolidation: a Fisher-weighted pull to the old weights",
    "mas": "Memory Aware Synapses: a sensitivity-weighted pull to the old weights",
    "er": "Experience Replay from a reservoir memory",
    "der": "Dark Experience Replay: replays the stored logits",
    "derpp": "DER++: replays the stored logits and the labels",
    "dlcft": "DLCFT: linearised fine-tuning with MSE and a K-FAC penalty",
    "osla": "OSLA: DLCFT's ablation, the softmax network with the K-FAC penalty",
    "lwf": "LwF: distils the old heads' joint softmax",
    "lwf-s": "LwF-S: per-task softmax distillation in place of the joint one",
    "lwf-sr": "LwF-SR: per-task distillation + half the joint one",
    "lwf-br": "LwF-BR: LwF + shift-sensitive BCE distillation",
    "lwf-br2": "LwF-BR2: LwF-BR + BCE on the labels",
    "lwf-bsr": "LwF-BSR: LwF + per-task distillation + BCE distillation",
    "lwm": "LwM: LwF + Grad-CAM attention distillation",
    "lwm-s": "LwM-S: per-task softmax distillation in place of the joint one",
    "lwm-sr": "LwM-SR: per-task distillation + half the joint one",
    "lwm-br": "LwM-BR: LwM + shift-sensitive BCE distillation",
    "lwm-br2": "LwM-BR2: LwM-BR + BCE on the labels",
    "lwm-bsr": "LwM-BSR: LwM + per-task distillation + BCE distillation",
    "lucir": "LUCIR: cosine heads, less-forget term, margin ranking, exemplars",
    "lucir-s": "LUCIR-S: per-task distillation in place of the less-forget term",
    "lucir-sr": "LUCIR-SR: LUCIR + per-task distillation",
    "lucir-br": "LUCIR-BR: LUCIR + BCE distillation of the features",
    "lucir-br2": "LUCIR-BR2: LUCIR-BR + BCE on the labels",
    "lucir-bsr": "LUCIR-BSR: LUCIR + per-task distillation + BCE of the features",
}


def method_title(name: str) -> str:
    """`name`'s title (TITLES), or its registered one-line doc where it has none."""
    return TITLES.get(name) or METHODS.doc(name)
