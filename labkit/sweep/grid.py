"""A grid of runs: the cross product of values for RunConfig fields and method parameters.

Spelled as Hydra's multirun spells a sweep on the command line (`key=v1,v2,v3`; `seed=0-9` for a
range), and in Python as a dict of lists, as Ray Tune's `tune.grid_search` lists values:

    grid = {"method": ["lwf", "lwf-bsr"], "seed": range(10), "param.lamb": [100, 1000]}

A key is a RunConfig field, or `param.NAME` for the method parameter NAME. Each point of the grid
is a Cell: its key (the grid's values at that point) and its full RunConfig, checked before
anything runs.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from typing import Any, Iterable

from labkit.config import RunConfig
from labkit.methods import METHODS
from labkit.registry import ConfigError, parse_bool

PARAM = "param."
FIELDS = {f.name: f for f in dataclasses.fields(RunConfig) if f.name != "method_params"}


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: `key` says where it sits in the grid (e.g. {"method": "lwf", "seed": 3}),
    `config` is the whole run."""

    key: dict[str, Any]
    config: RunConfig

    @property
    def label(self) -> str:
        """The key without its seed, the group whose seeds are averaged and paired: 'lwf' for a
        grid over methods (or a comparison's rows) alone, 'lr=0.05' or 'method=lwf, loss=mse' else."""
        rest = {k: v for k, v in self.key.items() if k != "seed"}
        if len(rest) == 1 and next(iter(rest)) in ("method", "row"):
            return str(next(iter(rest.values())))
        return ", ".join(f"{k}={v}" for k, v in rest.items()) or "all"

    @property
    def identity(self) -> str:
        """The config as canonical JSON: the same run, whatever grid it came from."""
        return json.dumps(self.config.to_dict(), sort_keys=True)


def typed_params(config: RunConfig) -> RunConfig:
    """The given method parameters as the method reads them (lamb="100" -> 100.0), so a cell
    typed on the command line is the same run as one written in Python."""
    given = config.method_params
    checked = METHODS.get(config.method).checked_params(dict(given))
    return config.replace(method_params={k: checked[k] for k in given}) if given else config


def config_at(base: RunConfig, key: dict[str, Any]) -> RunConfig:
    """`base` with the point `key` applied ({"lr": 0.01, "param.lamb": 100}), validated."""
    fields = {k: v for k, v in key.items() if not k.startswith(PARAM)}
    params = {k[len(PARAM):]: v for k, v in key.items() if k.startswith(PARAM)}
    config = base.replace(**fields, **({"method_params": {**base.method_params, **params}} if params else {}))
    return typed_params(config.validate())


def check_key(key: str) -> None:
    if key.startswith(PARAM) and len(key) > len(PARAM):
        return
    if key not in FIELDS:
        raise ConfigError("grid", key, f"a RunConfig field ({', '.join(FIELDS)}) or param.NAME for a "
                          "method parameter")


def grid_cells(base: RunConfig, grid: dict[str, Iterable[Any]]) -> list[Cell]:
    """Every point of `grid` applied to `base`, in the grid's order (the last key varies fastest),
    each config validated (ConfigError names the bad cell's field) before any is returned."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("grid", grid, "a dict of field -> list of values, e.g. {'seed': [0, 1, 2]}")
    axes = {}
    for key, values in grid.items():
        check_key(key)
        values = list(values) if not isinstance(values, (str, bytes)) else None
        if not values:
            raise ConfigError(f"grid[{key}]", grid[key], "a non-empty list of values")
        axes[key] = values
    points = (dict(zip(axes, point)) for point in itertools.product(*axes.values()))
    cells = [Cell(key, config_at(base, key)) for key in points]
    identities = [c.identity for c in cells]
    if len(set(identities)) < len(identities):
        raise ConfigError("grid", grid, "values that make distinct runs: two points give the same config")
    return cells


def typed_value(key: str, text: str) -> Any:
    """A command-line value as its field's type (method parameters stay text: the method checks them)."""
    if key.startswith(PARAM):
        return text
    default = FIELDS[key].default
    try:
        return parse_bool(text) if isinstance(default, bool) else type(default)(text)
    except ValueError:
        raise ConfigError(key, text, f"a value of type {type(default).__name__}") from None


def parse_axis(item: str) -> tuple[str, list[Any]]:
    """'method=lwf,lwf-bsr' -> ('method', ['lwf', 'lwf-bsr']); 'seed=0-9' -> ('seed', [0, ..., 9]).
    Whole-number ranges are inclusive, as Hydra's `range` is not (it says so: 0-9 is ten seeds)."""
    key, sep, values = item.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ConfigError("grid", item, "KEY=V1,V2,... (e.g. method=lwf,lwf-bsr, seed=0-9, param.lamb=100,1000)")
    check_key(key)
    items = [v.strip() for v in values.split(",")]
    if "" in items:
        raise ConfigError(f"grid[{key}]", values, "comma-separated values with no empty one")
    out: list[Any] = []
    for text in items:
        low, dash, high = text.partition("-")
        if dash and low.isdigit() and high.isdigit() and not key.startswith(PARAM) \
                and isinstance(FIELDS[key].default, int) and not isinstance(FIELDS[key].default, bool):
            if int(high) < int(low):
                raise ConfigError(f"grid[{key}]", text, "a range LOW-HIGH with LOW <= HIGH, e.g. 0-9")
            out.extend(range(int(low), int(high) + 1))
        else:
            out.append(typed_value(key, text))
    if len(set(map(str, out))) < len(out):
        raise ConfigError(f"grid[{key}]", values, "each value once")
    return key, out


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """Several --grid items -> one grid; each key once."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, values = parse_axis(item)
        if key in grid:
            raise ConfigError("grid", item, f"each key once: {key} is given twice")
        grid[key] = values
    return grid
