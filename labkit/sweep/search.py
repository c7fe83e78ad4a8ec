"""Hyper-parameter search on Ray Tune, selecting on validation accuracy, never on test.

    python -m labkit tune ewc-lamb --dataset fashion --method ewc \
        --search param.lamb=loguniform:10,100000 --samples 8

An axis of the search space is a RunConfig field or `param.NAME` (as in a sweep's grid) with one
of Ray Tune's distributions: `loguniform:LOW,HIGH`, `uniform:LOW,HIGH`, `randint:LOW,HIGH` (both
ends included), `choice:A,B,...`, or plain values `A,B,...` (`tune.grid_search`: every value in
every sample). With no axis given: each of the method's float parameters with a positive default,
log-uniform over default/10 .. default*10 within its declared bounds.

Each trial is an ordinary stored run, RUNS_DIR/tune-NAME-TRIAL, trained with val_fraction of each
task's training data held out (0.1 where the config holds out none). Its score is the average
validation accuracy over all tasks after the last (RunResult.validation_accuracy; task-aware in
task-IL, task-agnostic otherwise): the test split is never looked at to choose. A trial that
diverges or fails has no score and is listed as such. Tune's own record of the search is kept in
RUNS_DIR/.tune/NAME, so running the same search again runs only its unfinished trials.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.config import SEED_MAX, RunConfig, split_setting
from labkit.experiment.metrics import natural_kind
from labkit.experiment.result import RunResult
from labkit.experiment.store import DEFAULT_RUNS_DIR, RunDir
from labkit.methods import METHODS
from labkit.errors import ConfigError, StoreError
from labkit.sweep.execute import ELSEWHERE, check_resources, ray_for, run_cell
from labkit.sweep.grid import MAX_CELLS, PARAM, check_key, config_at, typed_value
from labkit.sweep.record import check_name

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
DEFAULT_VAL_FRACTION = 0.1
SPEC_FILE = "labkit-search.json"


@dataclass
class Trial:
    """One sampled point: its values, its stored run, and its validation score (None: no score)."""

    key: dict[str, Any]
    run_id: str | None
    result: RunResult | None
    score: float | None

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else "failed"

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_short(v)}" for k, v in self.key.items())


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _value(base: RunConfig, key: str, text: str) -> Any:
    """The text as the value `key` takes (a field's type; a method parameter as the method coerces
    it), checked by validating the config it makes; ConfigError names `search[key]`."""
    try:
        config = config_at(base, {key: typed_value(key, text)})
    except ConfigError as error:
        raise ConfigError(f"search[{key}]", text, error.valid) from None
    return config.method_params[key[len(PARAM):]] if key.startswith(PARAM) else getattr(config, key)


def parse_search_axis(base: RunConfig, item: str) -> tuple[str, Any]:
    """'param.lamb=loguniform:10,1e5' -> ('param.lamb', tune.loguniform(10.0, 100000.0)), every
    value checked against the field's or parameter's bounds."""
    from ray import tune

    key, value = split_setting("search", item, "KEY=DIST:LOW,HIGH or KEY=V1,V2 (e.g. param.lamb=loguniform:10,100000, "
                                                 "lr=0.01,0.05)")
    try:
        check_key(key)
    except ConfigError as error:
        raise ConfigError("search", key, error.valid) from None
    distribution, colon, rest = value.partition(":")
    if not colon or distribution not in DISTRIBUTIONS:
        distribution, rest = "grid", value
    texts = [t.strip() for t in rest.split(",")]
    if "" in texts:
        raise ConfigError(f"search[{key}]", value, "comma-separated values with no empty one")
    values = [_value(base, key, t) for t in texts]
    if distribution in ("choice", "grid"):
        if len(set(map(str, values))) < len(values):
            raise ConfigError(f"search[{key}]", value, "each value once")
        return key, tune.choice(values) if distribution == "choice" else tune.grid_search(values)
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) \
            or not values[0] < values[1]:
        raise ConfigError(f"search[{key}]", value, f"{distribution}:LOW,HIGH with two numbers, LOW < HIGH")
    low, high = values
    if distribution == "loguniform":
        if low <= 0:
            raise ConfigError(f"search[{key}]", value, "loguniform needs LOW > 0 (use uniform for a range from 0)")
        return key, tune.loguniform(low, high)
    if distribution == "randint":
        if not all(isinstance(v, int) for v in values):
            raise ConfigError(f"search[{key}]", value, "randint:LOW,HIGH with whole numbers")
        return key, tune.randint(low, high + 1)
    return key, tune.uniform(low, high)


def default_axes(method: str) -> list[str]:
    """The method's float parameters with a positive default, default/10 .. default*10 within
    their bounds, as axes for parse_search_axis."""
    axes = []
    for name, p in METHODS.get(method).params.items():
        if type(p.default) is not float or p.default <= 0 or p.choices is not None:
            continue
        low, high = p.default / 10, p.default * 10
        high = min([high] + [b for b in (p.le, p.lt) if b is not None])
        low = max([low] + [b for b in (p.ge, p.gt) if b is not None])
        axes.append(f"{PARAM}{name}=loguniform:{low:g},{high:g}")
    if not axes:
        raise ConfigError("search", "", f"an axis: method {method} declares no float parameter to search by "
                          "default; give --search KEY=DIST, e.g. lr=loguniform:0.001,0.1")
    return axes


def parse_space(base: RunConfig, items: list[str]) -> dict[str, Any]:
    """--search items (default: default_axes) -> Ray Tune's param_space; each key once."""
    space: dict[str, Any] = {}
    for item in items or default_axes(base.method):
        key, domain = parse_search_axis(base, item)
        if key in space:
            raise ConfigError("search", item, f"each key once: {key} is given twice")
        space[key] = domain
    return space


def searched_config(base: RunConfig) -> RunConfig:
    """The config trials start from: a validation split where it has none, and an absolute
    data_root (Ray's workers may start elsewhere)."""
    config = base if base.val_fraction else base.replace(val_fraction=DEFAULT_VAL_FRACTION)
    return config.replace(data_root=str(Path(config.data_root).resolve())).validate()


def _plain(value: Any) -> Any:
    """A sampled value as a JSON-able Python value (numpy scalars -> int/float)."""
    return value.item() if hasattr(value, "item") else value


def trial_run_id(name: str, trial_id: str) -> str:
    return f"tune-{name}-{trial_id}"


def score_of(result: RunResult | None) -> float | None:
    """A finished run's validation accuracy in its scenario's kind; None for any other run."""
    if result is None or result.status != "finished":
        return None
    return result.validation_accuracy(natural_kind(result.config["scenario"]))


def trial(params: dict, *, base: dict, runs_dir: str, name: str, threads: int) -> None:
    """Ray Tune's function trainable: one trial as a stored run (resumed in its folder when Tune
    restarts it), reporting its validation score, NaN for a run that did not finish."""
    from ray import tune

    key = {k: _plain(v) for k, v in params.items()}
    config = config_at(RunConfig.from_dict(base), key)
    run_id = trial_run_id(name, tune.get_context().get_trial_id())
    path = Path(runs_dir) / run_id
    if not (path / "config.json").is_file():
        RunDir.create(config.to_dict(), Path(runs_dir), run_id)
    stored = run_cell(config.to_dict(), str(path), threads)
    if stored is None:  # another process is writing this trial's folder: left alone, no score
        tune.report({"score": math.nan, "status": ELSEWHERE, "run_id": run_id})
        return
    result = RunResult.from_dict(stored)
    score = score_of(result)
    tune.report({"score": math.nan if score is None else score, "status": result.status, "run_id": run_id})


def _spec(base: RunConfig, items: list[str], samples: int, seed: int) -> dict:
    return {"base": base.to_dict(), "search": list(items), "samples": samples, "seed": seed}


def run_search(name: str, base: RunConfig, items: list[str], runs_dir: Path = DEFAULT_RUNS_DIR, *,
               samples: int = 8, seed: int = 0, workers: int | None = None, address: str | None = None,
               cpus_per_run: int = 1, gpus_per_run: float | None = None, verbose: int = 1) -> list[Trial]:
    """Run (or resume) the search `name` and return its trials, best validation score first
    (ties by run id; trials without a score last). `samples`: points drawn from the space (Tune's num_samples;
    grid axes multiply it), drawn with the random `seed`, so the same search draws the same points.
    A stored search of that name with other options is refused, not mixed in."""
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    check_name(name)
    if workers is not None and workers < 1:
        raise ConfigError("workers", workers, "a search runs on Ray: a number of CPUs >= 1 (default: all)")
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_CELLS:
        raise ConfigError("samples", samples, f"a whole number of trials from 1 to {MAX_CELLS:,}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        raise ConfigError("search_seed", seed, f"a whole number from 0 to {SEED_MAX}")
    check_resources(cpus_per_run, gpus_per_run)
    base = searched_config(base)
    space = parse_space(base, items)
    runs_dir = Path(runs_dir).resolve()
    path = runs_dir / ".tune" / name
    spec = _spec(base, items, samples, seed)
    _, gpus_per_run = ray_for(workers, address, cpus_per_run, gpus_per_run)  # fails fast on a request never met
    trainable = tune.with_resources(
        tune.with_parameters(trial, base=base.to_dict(), runs_dir=str(runs_dir), name=name, threads=cpus_per_run),
        {"cpu": cpus_per_run, "gpu": gpus_per_run})
    if tune.Tuner.can_restore(str(path)):
        stored = json.loads((path / SPEC_FILE).read_text()) if (path / SPEC_FILE).is_file() else None
        if stored != spec:
            raise ConfigError("name", name, f"a search stored in {path} with other options (or none recorded); "
                              "pick another name, or move that folder away to start it again")
        tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / SPEC_FILE).write_text(json.dumps(spec, indent=1))
        tuner = tune.Tuner(trainable, param_space=space,
                           tune_config=tune.TuneConfig(num_samples=samples,
                                                       search_alg=BasicVariantGenerator(random_state=seed)),
                           run_config=tune.RunConfig(name=name, storage_path=str(path.parent), verbose=verbose))
    trials = []
    for outcome in tuner.fit():
        key = {k: _plain(outcome.config[k]) for k in space}
        run_id = (outcome.metrics or {}).get("run_id")
        run_dir = RunDir(runs_dir / run_id) if run_id else None
        try:
            result = run_dir.result() if run_dir else None
        except StoreError:  # a trial folder damaged since: no result, as for a failed trial
            result = None
        trials.append(Trial(key, run_id, result, score_of(result)))
    return sorted(trials, key=lambda t: (t.score is None, -(t.score or 0.0), t.run_id or ""))
