"""A sweep on disk: `<runs_dir>/<name>.sweep.json`, beside the run folders it lists.

The record holds, for every cell ever run under this name, its key, its whole config and the id
of its run folder (None until the cell first starts). Each cell is an ordinary stored run, so
`python -m labkit show RUN_ID` and the app read it like any other. Cells are matched by config,
not by position: running the sweep again with more seeds reuses the cells it already has.

Read, a record is checked whole (check_cells): a list of cells, each an object with a key (names ->
plain JSON values), a config (an object) and a run_id (None or a folder name directly inside the
runs folder), no config and no run_id twice. A damaged record is refused (StoreError) naming the
cell and what is wrong with it, and nothing is written, inside the runs folder or out of it; so is
a cell whose config is no longer a valid run, and a lock another process holds too long. A name
that is no sweep name, or names no stored sweep, is bad input (ConfigError).

Several processes may run the same sweep at once. Every read-modify-write of the record holds its
lock (`.NAME.sweep.lock` beside it, fcntl.flock) and reads the record again first when another
process changed it (each save writes a new token into the lock file), so no process's changes
are lost; a cell's run folder is made and recorded
under that lock (labkit.sweep.execute claims it), so each cell has one folder.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Iterator

from labkit.config import RunConfig
from labkit.experiment.store import DEFAULT_RUNS_DIR, is_run_id, lock_exclusive, runs_dir_refused, write_json_atomic
from labkit.errors import ConfigError, StoreError, short_repr
from labkit.sweep.grid import Cell, canonical, typed_params

SUFFIX = ".sweep.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SCALARS = (str, int, float, bool, type(None))  # what a cell's key may hold: plain JSON values
LOCK_WAIT_S = 60.0  # a read-modify-write takes milliseconds: a lock held this long is stuck


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name) or name.endswith(SUFFIX):
        raise ConfigError("name", name, "a sweep name of letters, digits, '.', '_' and '-' (starting with a "
                          "letter or digit, at most 100), e.g. rethinking-fashion-10seeds")
    return name


def cell_problem(cell: object, runs_dir: Path) -> str | None:
    """What is wrong with one stored cell ("'s run_id '../x' is not a folder name in R"), or None."""
    if not isinstance(cell, dict) or not {"key", "config", "run_id"} <= set(cell):
        return " is not an object with a key, a config and a run_id"
    key, config, run_id = cell["key"], cell["config"], cell["run_id"]
    if not isinstance(key, dict) or not all(isinstance(v, SCALARS) for v in key.values()):
        return f"'s key {short_repr(key, 80)} is not an object of names -> plain values (text, numbers, true/false)"
    if not isinstance(config, dict):
        return f"'s config {short_repr(config, 80)} is not an object of RunConfig fields"
    if run_id is not None and not is_run_id(run_id):
        return f"'s run_id {short_repr(run_id, 80)} is not a folder name in {runs_dir}"
    return None


def check_cells(data: object, runs_dir: Path) -> tuple[list[dict], dict[str, int]]:
    """A record's cells and where each config is ({canonical config: index}), after checking the
    record whole (see the module's docstring); ValueError saying what is damaged otherwise."""
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise ValueError("it is not an object with a list of cells")
    where: dict[str, int] = {}
    runs: dict[str, int] = {}
    for i, cell in enumerate(cells):
        problem = cell_problem(cell, runs_dir)
        if problem:
            raise ValueError(f"cell {i + 1}{problem}")
        identity = canonical(cell["config"])
        if identity in where:
            raise ValueError(f"cells {where[identity] + 1} and {i + 1} hold the same config")
        if cell["run_id"] is not None and cell["run_id"] in runs:
            raise ValueError(f"cells {runs[cell['run_id']] + 1} and {i + 1} name the same run folder "
                             f"{cell['run_id']!r}")
        where[identity] = i
        if cell["run_id"] is not None:
            runs[cell["run_id"]] = i
    return cells, where


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is rewritten (it is replaced, never edited); None when missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class SweepRecord:
    """The record `<runs_dir>/<name>.sweep.json` (empty until saved); ConfigError when `name` is
    no sweep name, StoreError naming `name` when its record is damaged (what and where: see check_cells)."""

    def __init__(self, name: str, runs_dir: Path = DEFAULT_RUNS_DIR):
        self.name = check_name(name)
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / f"{name}{SUFFIX}"
        self.lock_path = self.runs_dir / f".{name}.sweep.lock"
        self.cells: list[dict] = []
        self._where: dict[str, int] = {}  # canonical config -> index in cells: one lookup per cell
        self._stamp: tuple[int, int, int] | None = None
        self._token = ""  # the lock file's token when this object last read or wrote the record
        self._lock = None  # the lock file while this object holds the lock
        self._locks = 0  # how deep this object holds it (locked() is re-entrant)
        self._load()

    def _load(self, token: str | None = None) -> None:
        """Read the record from disk unless it is as this object last read or wrote it (the same
        file, and under the lock the same token: a file's stamp alone may repeat)."""
        stamp = _stamp(self.path)
        if stamp is not None and stamp == self._stamp and token in (None, self._token):
            return
        self.cells, self._where = self._read() if stamp is not None else ([], {})
        self._stamp, self._token = stamp, token or ""

    def _read(self) -> tuple[list[dict], dict[str, int]]:
        try:
            return check_cells(json.loads(self.path.read_text()), self.runs_dir)
        except (OSError, UnicodeDecodeError, RecursionError) as error:
            raise StoreError("name", self.name, f"its record {self.path} cannot be read ({type(error).__name__}); "
                             "its runs are untouched: move the file away or pick another name") from None
        except ValueError as error:  # not JSON, or JSON of the wrong shape: what is damaged
            what = "it is not JSON" if isinstance(error, json.JSONDecodeError) else str(error)
            raise StoreError("name", self.name, f"its record {self.path} is damaged: {what}; its runs are "
                             "untouched: move the file away or pick another name") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the record's lock for a read-modify-write: the record is read again first if
        another process changed it. StoreError when its lock file is a folder or another process
        holds the lock too long; when the runs folder cannot hold the lock file, runs_dir_refused's
        error (StoreError for a full disk, else ConfigError)."""
        if self._locks:
            self._locks += 1
            try:
                yield
            finally:
                self._locks -= 1
            return
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_path, "a+", errors="replace")  # a token; garbage reads as no token of ours
        except IsADirectoryError:  # what is stored is damaged, not the folder given
            raise StoreError("name", self.name, f"its record's lock {self.lock_path} is a folder, not a file; its "
                             "runs are untouched: move the folder away or pick another name") from None
        except OSError as error:
            raise runs_dir_refused(self.runs_dir, "a folder a sweep can be stored in", error) from None
        with handle:
            self._acquire(handle)
            self._lock, self._locks = handle, 1
            try:
                handle.seek(0)
                self._load(handle.read())
                yield
            finally:
                self._lock, self._locks = None, 0
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _acquire(self, handle) -> None:
        if not lock_exclusive(handle, LOCK_WAIT_S):
            raise StoreError("name", self.name, f"another process has held its record's lock "
                             f"{self.lock_path} for {LOCK_WAIT_S:.0f} s: is it stuck? stop it, or try again")

    def include(self, cells: list[Cell]) -> None:
        """Add the cells the record does not hold yet (no run folder yet); saved once, if any."""
        with self.locked():
            added = False
            for cell in cells:
                if cell.identity not in self._where:
                    self._where[cell.identity] = len(self.cells)
                    self.cells.append({"key": cell.key, "config": cell.config.to_dict(), "run_id": None})
                    added = True
            if added:
                self.save()

    def stored_cells(self) -> list[Cell]:
        """The cells the record holds, each config checked again: ConfigError when there is no
        sweep `name` (the name given names none), StoreError naming `name` and the cell when one
        no longer is a valid run."""
        if not self.cells:
            known = ", ".join(list_sweeps(self.runs_dir)) or "none stored"
            raise ConfigError("name", self.name, f"no sweep of that name in {self.runs_dir} (stored: {known}); "
                              "give --grid to start one")
        cells = []
        for i, c in enumerate(self.cells):
            try:
                cells.append(Cell(c["key"], typed_params(RunConfig.from_dict(c["config"]).validate())))
            except (ValueError, TypeError) as error:  # ConfigError, or a value of a type no field takes
                raise StoreError("name", self.name, f"its record {self.path}: cell {i + 1}'s config is not a "
                                 f"valid run now ({error}); move the file away or pick another name") from None
        return cells

    def run_id(self, cell: Cell) -> str | None:
        i = self._where.get(cell.identity)
        return None if i is None else self.cells[i]["run_id"]

    def assign(self, cell: Cell, run_id: str) -> None:
        """Record `run_id` as the cell's run folder (under the lock, read again first), and save."""
        with self.locked():
            i = self._where.get(cell.identity)
            if i is None:
                raise KeyError(cell.key)
            self.cells[i]["run_id"] = run_id
            self.save()

    def save(self) -> None:
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, {"name": self.name, "cells": self.cells})
            if self._lock is not None:  # a new token: the other processes read the record again
                self._token = secrets.token_hex(8)
                self._lock.seek(0), self._lock.truncate(), self._lock.write(self._token), self._lock.flush()
        except OSError as error:
            raise runs_dir_refused(self.runs_dir, "a folder a sweep can be stored in", error) from None
        self._stamp = _stamp(self.path)


def list_sweeps(runs_dir: Path = DEFAULT_RUNS_DIR) -> list[str]:
    """The names of the sweeps stored in `runs_dir`, sorted."""
    root = Path(runs_dir)
    return sorted(p.name[: -len(SUFFIX)] for p in root.glob(f"*{SUFFIX}")) if root.is_dir() else []


def auto_name(prefix: str, cells: list[Cell]) -> str:
    """A name that is the same for the same cells, so a repeated `table` finds its runs."""
    digest = hashlib.sha256("\n".join(sorted(c.identity for c in cells)).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"
