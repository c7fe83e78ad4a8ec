"""Runs as pandas DataFrames, the shape plotly express, seaborn and a spreadsheet take.

    runs_frame("data/runs")   # one row per stored run: config, status, metrics, sweep and cell
    result.to_frame()         # one row per accuracy (labkit.experiment.result.RunResult)

Tasks are numbered from 1, as every view of labkit numbers them. A run whose folder is damaged
is left out and named in the frame's attrs["left_out"] ({run_id: why}), as `runs` names it; a
run that diverged, failed or was stopped is a row like any other, with its status beside its
numbers (labkit.analysis.counted says which runs a mean may use)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from labkit.errors import StoreError
from labkit.experiment.metrics import KINDS, natural_kind
from labkit.experiment.result import RunResult
from labkit.experiment.run_scalars import flat_config
from labkit.experiment.store import DEFAULT_RUNS_DIR, list_runs
from labkit.sweep.record import SweepRecord, list_sweeps

METRICS = ("final_average_accuracy", "final_average_forgetting", "total_average_accuracy",
           "total_average_forgetting")
# the columns of every row whatever its config: an empty runs folder gives a frame of these
BASE_COLUMNS = ["run_id", "status", "tasks_done", *(f"{m}_{kind}" for kind in KINDS for m in METRICS), *METRICS,
                "sweep", "cell"]


def run_row(result: RunResult) -> dict:
    """One run as a flat row: run_id, status, tasks_done, its config's fields (method parameters
    as param.NAME), and each metric of METRICS in both kinds (e.g. final_average_accuracy_tag) and
    in the scenario's own kind (final_average_accuracy)."""
    row = {"run_id": result.run_id, "status": result.status, "tasks_done": result.tasks_done,
           **flat_config(result.config)}
    for kind in KINDS:
        summary = result.summary(kind) if result.tasks_done else {}
        row.update({f"{m}_{kind}": summary.get(m) for m in METRICS})
    own = natural_kind(result.config["scenario"])
    row.update({m: row[f"{m}_{own}"] for m in METRICS})
    return row


def sweep_cells(runs_dir: Path) -> dict[str, tuple[str, str]]:
    """run_id -> (sweep name, cell key as JSON) for every run a stored sweep record names; a
    damaged record is skipped (`sweep NAME` names what is wrong with it)."""
    cells = {}
    for name in list_sweeps(runs_dir):
        try:
            record = SweepRecord(name, runs_dir)
        except StoreError:
            continue
        for cell in record.cells:
            if cell.get("run_id"):
                cells[cell["run_id"]] = (name, json.dumps(cell["key"], sort_keys=True))
    return cells


def runs_frame(runs_dir: str | Path = DEFAULT_RUNS_DIR) -> pd.DataFrame:
    """One row per stored run with a result (run_row), plus its sweep and cell when a sweep
    record names it (else empty); damaged folders left out and named in attrs["left_out"]."""
    runs_dir = Path(runs_dir)
    cells, rows, left_out = sweep_cells(runs_dir), [], {}
    for run_dir in list_runs(runs_dir):
        try:
            result = run_dir.result()
        except StoreError as error:
            left_out[run_dir.run_id] = error.valid
            continue
        if result is None:  # no task completed yet
            continue
        sweep, cell = cells.get(run_dir.run_id, ("", ""))
        rows.append({**run_row(result), "sweep": sweep, "cell": cell})
    # an empty folder gives the columns every frame has, so frame[frame.status == "finished"] works
    frame = pd.DataFrame(rows, columns=None if rows else BASE_COLUMNS)
    frame.attrs["left_out"] = left_out
    return frame
