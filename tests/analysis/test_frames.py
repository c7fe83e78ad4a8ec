"""Runs as DataFrames: RunResult.to_frame against the matrices, runs_frame over a folder holding
finished, diverged, failed and damaged runs and a sweep's cell, and `runs --csv`."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from labkit import RunConfig, RunDir, runs_frame
from labkit.cli.main import main
from labkit.experiment.result import RunResult
from labkit.sweep.grid import grid_cells
from labkit.sweep.record import SweepRecord

CONFIG = RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=1, method="lwf", seed=0)


def stored(runs_dir, status="finished", acc=((0.9,), (0.5, 0.8)), **config_changes) -> RunDir:
    config = CONFIG.replace(**config_changes).to_dict()
    run_dir = RunDir.create(config, runs_dir)
    rows = [list(row) for row in acc]
    run_dir.write_result(RunResult(config=config, run_id=run_dir.run_id, acc_taw=rows, acc_tag=[r[:] for r in rows],
                                   status=status, failure=None if status == "finished" else {"reason": status}))
    return run_dir


def test_to_frame_holds_every_entry_of_both_matrices_and_nothing_else():
    result = RunResult(config=CONFIG.to_dict(), acc_taw=[[0.9], [0.7, 0.8]], acc_tag=[[0.9], [0.2, 0.6]])
    frame = result.to_frame()
    assert list(frame.columns) == ["after_task", "task", "kind", "accuracy"] and len(frame) == 6
    for kind in ("taw", "tag"):
        matrix = result.matrix(kind)
        for row in frame[frame.kind == kind].itertuples():
            assert row.task <= row.after_task and row.accuracy == matrix[row.after_task - 1, row.task - 1]
    assert RunResult(config=CONFIG.to_dict()).to_frame().empty


def test_runs_frame_has_a_row_per_readable_run_with_its_status_and_names_the_damaged(tmp_path):
    finished = stored(tmp_path, method_params={"lamb": 2.0})
    diverged = stored(tmp_path, "diverged", acc=((0.9,),), seed=1)
    failed = stored(tmp_path, "failed", acc=((0.4,),), seed=2)
    damaged = stored(tmp_path, seed=3)
    (damaged.path / "result.json").write_text('{"acc_taw": [[0.5, 0.5]]')
    cell = grid_cells(CONFIG, {"seed": [0]})[0]
    record = SweepRecord("s", tmp_path)
    record.include([cell])
    record.assign(cell, finished.run_id)
    frame = runs_frame(tmp_path).set_index("run_id")
    assert set(frame.index) == {finished.run_id, diverged.run_id, failed.run_id}
    assert list(frame.attrs["left_out"]) == [damaged.run_id] and "result.json" in frame.attrs["left_out"][damaged.run_id]
    assert frame.loc[diverged.run_id, "status"] == "diverged" and frame.loc[diverged.run_id, "tasks_done"] == 1
    row = frame.loc[finished.run_id]
    assert row["param.lamb"] == 2.0 and row["method"] == "lwf" and row["tasks_done"] == 2
    # class-IL: the scenario's own kind is task-agnostic; A_2 = (0.5 + 0.8) / 2, forgetting 0.9 - 0.5
    assert row["final_average_accuracy"] == row["final_average_accuracy_tag"] == pytest.approx(0.65)
    assert row["final_average_forgetting"] == pytest.approx(0.4)
    assert row["sweep"] == "s" and json.loads(row["cell"]) == {"seed": 0}
    assert frame.loc[failed.run_id, "sweep"] == ""


def test_runs_csv_writes_the_frame_and_refuses_a_folder_before_reading(tmp_path, capsys):
    runs = tmp_path / "runs"
    stored(runs)
    assert main(["--runs-dir", str(runs), "runs", "--csv", str(tmp_path / "runs.csv")]) == 0
    written = pd.read_csv(tmp_path / "runs.csv")
    assert len(written) == 1 and written.loc[0, "status"] == "finished"
    assert "1 runs written to" in capsys.readouterr().out
    assert main(["--runs-dir", str(runs), "runs", "--csv", str(tmp_path)]) == 2
    assert "csv=" in capsys.readouterr().err


def test_an_empty_runs_folder_gives_an_empty_frame_with_the_usual_columns(tmp_path):
    frame = runs_frame(tmp_path)
    assert len(frame) == 0 and frame.attrs["left_out"] == {}
    assert {"run_id", "status", "final_average_accuracy", "final_average_accuracy_tag", "sweep"} <= set(frame.columns)
    assert len(frame[frame.status == "finished"]) == 0
