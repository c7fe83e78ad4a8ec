"""A sweep on disk: `<runs_dir>/<name>.sweep.json`, beside the run folders it lists.

The record holds, for every cell ever run under this name, its key, its whole config and the id
of its run folder (None until the cell first starts). Each cell is an ordinary stored run, so
`python -m labkit show RUN_ID` and the app read it like any other. Cells are matched by config,
not by position: running the sweep again with more seeds reuses the cells it already has.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from labkit.registry import ConfigError
from labkit.store import DEFAULT_RUNS_DIR, write_json_atomic
from labkit.config import RunConfig
from labkit.sweep.grid import Cell, typed_params

SUFFIX = ".sweep.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name) or name.endswith(SUFFIX):
        raise ConfigError("name", name, "a sweep name of letters, digits, '.', '_' and '-' (starting with a "
                          "letter or digit, at most 100), e.g. rethinking-fashion-10seeds")
    return name


class SweepRecord:
    def __init__(self, name: str, runs_dir: Path = DEFAULT_RUNS_DIR):
        self.name = check_name(name)
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / f"{name}{SUFFIX}"
        self.cells: list[dict] = []
        if self.path.exists():
            self.cells = self._read()

    def _read(self) -> list[dict]:
        try:
            data = json.loads(self.path.read_text())
            cells = data["cells"]
            assert isinstance(cells, list) and all({"key", "config", "run_id"} <= set(c) for c in cells)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError) as error:
            raise ConfigError("name", self.name, f"its record {self.path} cannot be read ({type(error).__name__}); "
                              "its runs are untouched: move the file away or pick another name") from None
        return cells

    def _index(self, cell: Cell) -> int | None:
        identity = cell.identity
        for i, stored in enumerate(self.cells):
            if json.dumps(stored["config"], sort_keys=True) == identity:
                return i
        return None

    def include(self, cells: list[Cell]) -> None:
        """Add the cells the record does not hold yet (no run folder yet), and save."""
        for cell in cells:
            if self._index(cell) is None:
                self.cells.append({"key": cell.key, "config": cell.config.to_dict(), "run_id": None})
        self.save()

    def stored_cells(self) -> list[Cell]:
        """The cells the record holds, each config checked again (ConfigError if one no longer is valid)."""
        if not self.cells:
            known = ", ".join(list_sweeps(self.runs_dir)) or "none stored"
            raise ConfigError("name", self.name, f"no sweep of that name in {self.runs_dir} (stored: {known}); "
                              "give --grid to start one")
        return [Cell(c["key"], typed_params(RunConfig.from_dict(c["config"]).validate())) for c in self.cells]

    def run_id(self, cell: Cell) -> str | None:
        i = self._index(cell)
        return None if i is None else self.cells[i]["run_id"]

    def assign(self, cell: Cell, run_id: str) -> None:
        i = self._index(cell)
        if i is None:
            raise KeyError(cell.key)
        self.cells[i]["run_id"] = run_id
        self.save()

    def save(self) -> None:
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, {"name": self.name, "cells": self.cells})
        except OSError as error:
            raise ConfigError("runs_dir", str(self.runs_dir), f"a folder a sweep can be stored in "
                              f"({type(error).__name__}: {error.strerror or error})") from None


def list_sweeps(runs_dir: Path = DEFAULT_RUNS_DIR) -> list[str]:
    """The names of the sweeps stored in `runs_dir`, sorted."""
    root = Path(runs_dir)
    return sorted(p.name[: -len(SUFFIX)] for p in root.glob(f"*{SUFFIX}")) if root.is_dir() else []


def auto_name(prefix: str, cells: list[Cell]) -> str:
    """A name that is the same for the same cells, so a repeated `table` finds its runs."""
    digest = hashlib.sha256("\n".join(sorted(c.identity for c in cells)).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"
