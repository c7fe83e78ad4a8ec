"""A grid of runs: the cross product of values for RunConfig fields and method parameters.

Spelled as Hydra's multirun spells a sweep on the command line (`key=v1,v2,v3`; `seed=0-9` for a
range), and in Python as a dict of lists, as Ray Tune's `tune.grid_search` lists values:

    grid = {"method": ["lwf", "lwf-bsr"], "seed": range(10), "param.lamb": [100, 1000]}

A key is a RunConfig field, or `param.NAME` for the method parameter NAME. Each point of the grid
is a Cell: its key (the grid's values at that point) and its full RunConfig, checked before
anything runs. A grid holds at most MAX_CELLS cells (`max_cells` raises the limit), counted from
its axes' lengths before any range is expanded or any cell built. Numbers on the command line
are ASCII digits only ('²' or '١' is not a digit here, as int() would read some of them).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from labkit.config import RunConfig, split_setting
from labkit.methods import METHODS
from labkit.errors import ConfigError
from labkit.registry import parse_bool

PARAM = "param."
FIELDS = {f.name: f for f in dataclasses.fields(RunConfig) if f.name != "method_params"}
MAX_CELLS = 10_000  # a grid's cells at most, unless the caller raises it (sweep --max-cells)
WHOLE = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: int() also reads '١' (and str.isdigit() '²')
RANGE = re.compile(r"([0-9]{1,100})-([0-9]{1,100})")


def canonical(config: dict) -> str:
    """A config dict as canonical JSON: the same run has the same text, whatever made it."""
    return json.dumps(config, sort_keys=True)


def check_max_cells(max_cells: object) -> int:
    if not isinstance(max_cells, int) or isinstance(max_cells, bool) or max_cells < 1:
        raise ConfigError("max_cells", max_cells, "a whole number of cells >= 1")
    return max_cells


def check_size(size: int, max_cells: int, given: object) -> None:
    """Refuse a grid of more than `max_cells` cells (`size`: its count, or a lower bound of it)."""
    if size > max_cells:
        raise ConfigError("grid", given, f"at most {max_cells:,} cells (this grid has {size:,}); --max-cells "
                          "raises the limit")


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

    @functools.cached_property
    def identity(self) -> str:
        """The config as canonical JSON: the same run, whatever grid it came from."""
        return canonical(self.config.to_dict())


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


def _axis_values(key: str, values: Any, max_cells: int) -> list[Any]:
    """An axis's values as a list, refused when empty or longer than `max_cells` (counted before
    it is listed: a range or generator is never expanded past the limit)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(f"grid[{key}]", values, "a non-empty list of values")
    if hasattr(values, "__len__"):
        check_size(len(values), max_cells, {key: values})
    listed = list(itertools.islice(values, max_cells + 1))
    check_size(len(listed), max_cells, {key: values})
    if not listed:
        raise ConfigError(f"grid[{key}]", values, "a non-empty list of values")
    return listed


def grid_cells(base: RunConfig, grid: dict[str, Iterable[Any]], max_cells: int = MAX_CELLS) -> list[Cell]:
    """Every point of `grid` applied to `base`, in the grid's order (the last key varies fastest),
    each config validated (ConfigError names the bad cell's field) before any is returned; at
    most `max_cells` of them, counted from the axes' lengths before any cell is built."""
    check_max_cells(max_cells)
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("grid", grid, "a dict of field -> list of values, e.g. {'seed': [0, 1, 2]}")
    axes = {}
    for key, values in grid.items():
        check_key(key)
        axes[key] = _axis_values(key, values, max_cells)
    check_size(math.prod(len(v) for v in axes.values()), max_cells, grid)
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
    field_type = type(default)
    try:
        if isinstance(default, bool):
            return parse_bool(text)
        if field_type is int and not WHOLE.fullmatch(text):
            raise ValueError(text)
        if field_type is float and not text.isascii():
            raise ValueError(text)
        return field_type(text)
    except ValueError:
        raise ConfigError(key, text, f"a value of type {field_type.__name__}"
                                     f"{' (ASCII digits)' if field_type in (int, float) else ''}") from None


def _is_range(key: str, text: str) -> bool:
    """Whether `text` is LOW-HIGH for a whole-number field (not a method parameter); one that only
    looks like it (other digits than ASCII's: '²-³', '١-٣', or longer than 100 digits) is refused."""
    if key.startswith(PARAM) or type(FIELDS[key].default) is not int:
        return False
    if RANGE.fullmatch(text):
        return True
    low, dash, high = text.partition("-")
    if dash and low.isdigit() and high.isdigit():
        raise ConfigError(f"grid[{key}]", text, "a range LOW-HIGH of ASCII digits 0-9, e.g. 0-9")
    return False


def parse_axis(item: str, max_cells: int = MAX_CELLS) -> tuple[str, list[Any]]:
    """'method=lwf,lwf-bsr' -> ('method', ['lwf', 'lwf-bsr']); 'seed=0-9' -> ('seed', [0, ..., 9]).
    Whole-number ranges are inclusive, as Hydra's `range` is not (it says so: 0-9 is ten seeds);
    an axis of more than `max_cells` values is refused before its ranges are expanded."""
    key, values = split_setting("grid", item, "KEY=V1,V2,... (e.g. method=lwf,lwf-bsr, seed=0-9, param.lamb=100,1000)")
    check_key(key)
    texts = [v.strip() for v in values.split(",")]
    if "" in texts:
        raise ConfigError(f"grid[{key}]", values, "comma-separated values with no empty one")
    out: list[Any] = []
    ranges = [RANGE.fullmatch(text) if _is_range(key, text) else None for text in texts]
    size = sum(max(int(r[2]) - int(r[1]) + 1, 1) if r else 1 for r in ranges)
    check_size(size, max_cells, item)
    for text, match in zip(texts, ranges):
        if match:
            low, high = int(match[1]), int(match[2])
            if high < low:
                raise ConfigError(f"grid[{key}]", text, "a range LOW-HIGH with LOW <= HIGH, e.g. 0-9")
            out.extend(range(low, high + 1))
        else:
            out.append(typed_value(key, text))
    if len(set(map(str, out))) < len(out):
        raise ConfigError(f"grid[{key}]", values, "each value once")
    return key, out


def parse_grid(items: list[str], max_cells: int = MAX_CELLS) -> dict[str, list[Any]]:
    """Several --grid items -> one grid; each key once; at most `max_cells` cells in all."""
    check_max_cells(max_cells)
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, values = parse_axis(item, max_cells)
        if key in grid:
            raise ConfigError("grid", item, f"each key once: {key} is given twice")
        grid[key] = values
        check_size(math.prod(len(v) for v in grid.values()), max_cells, " ".join(items))
    return grid
