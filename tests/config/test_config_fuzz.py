"""Property-based bad input (hypothesis): random values of every kind (wrong types, NaN, inf, huge
and negative numbers, random text, None, lists) for every RunConfig field and every parameter of
every registered method. Each is refused with a ConfigError naming the field, or accepted only if
it meets the field's specification (written out here independently of labkit.config). A sample of
accepted configs is run on tiny settings: each runs to its end, finished or reported as diverged,
or is refused with a ConfigError before its first epoch; never any other exception."""
from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labkit import BACKBONES, DATASETS, LOSSES, METHODS, SCENARIOS, ConfigError, RunConfig, RunResult, run
from labkit.config import CONFIG_VERSION, SEED_MAX
from labkit.data.scenarios import VAL_SPLITS

FAST = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = [f.name for f in dataclasses.fields(RunConfig)]

junk = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, 1, -1, 2**32 - 1, 2**32, 10**400, 0.0, 1.0, 0.5, -0.5, 1000.0, 1e308]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "nan", "inf", "-1", "1.5", "0.1", "auto", "auto:digits", "\0", "digits", "lwf", "cpu"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_real(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def text(v) -> bool:
    return isinstance(v, str) and "\0" not in v


# what each field accepts, with the other fields at their defaults
DEFAULT_CLASSES = DATASETS.get(RunConfig().dataset).num_classes


def is_permutation_text(v, n: int) -> bool:
    """'2,0,1,...': every class id 0..n-1 once, written as whole numbers."""
    parts = [p.strip() for p in v.split(",")] if text(v) else []
    return bool(parts) and all(p.isdigit() for p in parts) and sorted(map(int, parts)) == list(range(n))


SPEC = {
    "dataset": lambda v: isinstance(v, str) and v in DATASETS,
    "scenario": lambda v: isinstance(v, str) and v in SCENARIOS,
    "tasks": lambda v: is_int(v) and 1 <= v <= 10,
    "method": lambda v: isinstance(v, str) and v in METHODS,
    "loss": lambda v: isinstance(v, str) and v in LOSSES,
    "backbone": lambda v: isinstance(v, str) and v in BACKBONES,
    "epochs": lambda v: is_int(v) and 1 <= v <= 10_000,
    "batch_size": lambda v: is_int(v) and 1 <= v <= 1_000_000,
    "lr": lambda v: is_real(v) and 0 < v <= 1000,
    "optimizer": lambda v: v in ("sgd", "adam"),
    "momentum": lambda v: is_real(v) and 0 <= v < 1,
    "weight_decay": lambda v: is_real(v) and 0 <= v <= 1000,
    "seed": lambda v: is_int(v) and 0 <= v <= SEED_MAX,
    "class_order": lambda v: v in ("seeded", "facil") or is_permutation_text(v, DEFAULT_CLASSES),
    "val_fraction": lambda v: is_real(v) and 0 <= v < 1,
    "val_split": lambda v: v in ("random", "stratified"),
    "head_layout": lambda v: v == "per-task" or v == "all-classes",
    "freeze_old_heads": lambda v: isinstance(v, bool),
    "lr_patience": lambda v: v == 0,  # > 0 needs val_fraction > 0, which is 0 by default
    "lr_factor": lambda v: is_real(v) and v > 1,
    "lr_min": lambda v: is_real(v) and v >= 0,
    "device": lambda v: v in ("auto", "cpu", "cuda"),
    "data_root": lambda v: text(v) and v != "",
    "pretrained": lambda v: v in ("", "auto") or (text(v) and v.startswith("auto:") and v[5:] in DATASETS),
    "knn_k": lambda v: is_int(v) and v >= 0,
    "track_curvature": lambda v: isinstance(v, bool),
    "augment": lambda v: isinstance(v, bool),
    "amp": lambda v: isinstance(v, bool),
    "channels_last": lambda v: isinstance(v, bool),
    "compile": lambda v: isinstance(v, bool),
    "log": lambda v: v in ("", "tensorboard"),
    "method_params": lambda v: v == {},  # the default method, finetune, takes none
    "config_version": lambda v: is_int(v) and v == CONFIG_VERSION,  # from_dict reads older ones
}


def test_the_spec_covers_every_field():
    assert set(SPEC) == set(FIELDS)


def plausible(field: str):
    """Values a user might mean for `field`: the registries' names and numbers near the default."""
    default = getattr(RunConfig(), field)
    near = [default]
    if is_real(default):
        near += [default + 1, default - 1, default * 2, -default, default / 3]
    return st.sampled_from(near + ["digits", "cnn", "mse", "task-il", "lwf", "/no/such/file.pt"])


@FAST
@given(field=st.sampled_from(FIELDS), data=st.data())
def test_every_field_refuses_bad_values_with_a_config_error_or_accepts_only_valid_ones(field, data):
    value = data.draw(st.one_of(junk, plausible(field)), label=field)
    config = RunConfig(**{field: value})
    try:
        config.validate()
    except ConfigError as error:  # anything else (TypeError, ValueError, ...) fails the test
        # the field itself; a method may refuse the default loss or backbone instead
        assert error.field == field or (field == "method" and error.field in ("loss", "backbone")), error
        assert str(error).startswith(f"{error.field}=") and "is not valid: " in str(error)
        return
    assert SPEC[field](value), f"{field}={value!r} was accepted"
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config  # what is accepted can be stored and read back


def param_cases():
    return [(name, key) for name in METHODS.names() for key in METHODS.get(name).params]


def within(p, v) -> bool:
    """The Param's declared range, read independently of Param.coerce."""
    return ((p.ge is None or v >= p.ge) and (p.gt is None or v > p.gt)
            and (p.le is None or v <= p.le) and (p.lt is None or v < p.lt))


def param_values(p):
    """Junk, junk as the command line would pass it (text), and the Param's own edges."""
    edges = [v for v in [p.default, p.ge, p.gt, p.le, p.lt, *(p.choices or ())] if v is not None]
    return st.one_of(junk, junk.map(str), st.sampled_from(edges), st.sampled_from(edges).map(str))


@FAST
@given(case=st.sampled_from(param_cases()), data=st.data())
def test_every_method_parameter_is_refused_or_coerced_into_its_range(case, data):
    name, key = case
    cls, p = METHODS.get(name), METHODS.get(name).params[key]
    value = data.draw(param_values(p), label=f"{name}.{key}")
    try:
        out = cls.checked_params({key: value})[key]
    except ConfigError as error:
        assert error.field == f"method_params.{key}" and f"method_params.{key}=" in str(error)
        return
    assert type(out) is type(p.default), (value, out)
    if isinstance(out, str):
        assert p.choices is None or out in p.choices
    elif is_int(p.default):
        assert within(p, out) and Fraction(value) == out  # exactly the number given: no fraction dropped
    else:
        assert is_real(out) and within(p, out), f"{name}.{key}={value!r} accepted as {out!r}"


def usable(names, problem) -> list[str]:
    return [n for n in names if problem(n) is None]


def tame(p):
    """Valid values of a Param, kept small where size only costs time (buffers, samples)."""
    if p.choices:
        return st.sampled_from(p.choices)
    low = p.ge if p.ge is not None else p.gt
    if isinstance(p.default, int):
        return st.integers(min_value=low, max_value=min(p.le if p.le is not None else 50, 50))
    high = p.le if p.le is not None else 1e6
    values = st.floats(min_value=low, max_value=high, exclude_min=p.gt is not None, allow_nan=False)
    return st.one_of(values, st.sampled_from([p.default, high]))


@st.composite
def runnable_configs(draw):
    """Valid configs on tiny settings (digits, 2 tasks, 1 epoch, CPU) with everything else drawn."""
    method = draw(st.sampled_from(METHODS.names()), label="method")
    cls = METHODS.get(method)
    val_fraction = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.999]))
    config = RunConfig(
        dataset="digits", tasks=2, epochs=1, device="cpu", knn_k=draw(st.integers(0, 50)),
        method=method, scenario=draw(st.sampled_from(SCENARIOS.names())),
        loss=draw(st.sampled_from(usable(LOSSES, cls.loss_problem))),
        backbone=draw(st.sampled_from(usable(["mlp", "cnn"], cls.backbone_problem))),
        optimizer=draw(st.sampled_from(["sgd", "adam"])),
        lr=draw(st.floats(min_value=1e-6, max_value=1000) | st.sampled_from([1000.0, 0.05])),
        momentum=draw(st.floats(min_value=0, max_value=0.999)),
        weight_decay=draw(st.sampled_from([0.0, 1e-4, 1.0, 1000.0])),
        batch_size=draw(st.integers(8, 2000)), seed=draw(st.integers(0, SEED_MAX)),
        val_fraction=val_fraction, val_split=draw(st.sampled_from(VAL_SPLITS)),
        lr_patience=draw(st.integers(0, 2)) if val_fraction else 0,
        class_order=draw(st.sampled_from(["seeded", "facil"])),
        lr_factor=draw(st.floats(min_value=1.01, max_value=1e6)), lr_min=draw(st.sampled_from([0.0, 1e-4, 10.0])),
        freeze_old_heads=draw(st.booleans()),
        method_params={k: draw(tame(p), label=k) for k, p in cls.params.items()})
    return config.validate()


# found by this test: sparsemax's support size is 0 once the logits are not finite (lr 1, no
# momentum, batch 8), and its gather at index -1 raised instead of the run reporting divergence
SPARSEMAX_BLOWS_UP = RunConfig(method="finetune", loss="sparsemax", tasks=2, epochs=1, device="cpu", knn_k=0,
                               lr=1.0, momentum=0.0, batch_size=8)
# one batch an epoch: its one step blows the weights up after the epoch's only loss was read, and
# OSLA's after_task (its K-FAC's sampled labels) raised on the non-finite softmax ("failed")
OSLA_BLOWN_UP_AFTER_THE_LAST_LOSS = RunConfig(method="osla", tasks=2, epochs=1, device="cpu", knn_k=0, lr=314.0,
                                              weight_decay=1000.0, batch_size=2000)
# stratified 0.999 held out every training image of each class: a ZeroDivisionError, refused now
# (ConfigError on val_fraction) once the data says how many images each class has
NOTHING_LEFT_TO_TRAIN = RunConfig(tasks=2, epochs=1, device="cpu", knn_k=0, val_fraction=0.999,
                                  val_split="stratified")


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(config=runnable_configs())
@example(config=SPARSEMAX_BLOWS_UP)
@example(config=OSLA_BLOWN_UP_AFTER_THE_LAST_LOSS)
@example(config=NOTHING_LEFT_TO_TRAIN)
def test_an_accepted_config_runs_to_its_end_or_reports_divergence(config):
    events = []
    try:
        result = run(config, events.append)
    except ConfigError:  # refused by name before training: what validate() cannot know without the data
        assert not [e for e in events if e.type == "epoch_ended"]
        return
    assert isinstance(result, RunResult)
    assert result.status in ("finished", "diverged"), result.failure
    if result.status == "finished":
        assert result.tasks_done == 2
