"""What a sweep needs on a real cluster: the runs folder made absolute and checked as seen by every
node before any cell starts; each cell's output in a log in its own folder; a cell whose worker
died or ran past its time limit recorded failed with the reason (and started again, up to the
retries); a dry run that writes nothing; a listing of the stored sweeps with their progress; and a
note on multiplicity when several comparisons are printed (labkit.analysis.multiplicity)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from labkit.analysis.multiplicity import holm, multiplicity_note, p_value
from labkit.analysis.paired import paired_difference
from labkit.cli.main import main
from labkit.config import RunConfig
from labkit.errors import ConfigError
from labkit.experiment import runner as runner_module
from labkit.experiment.store import RunDir, list_runs
from labkit.sweep import execute
from labkit.sweep.execute import CELL_LOG, check_visible, record_lost, run_sweep
from labkit.sweep.grid import grid_cells
from labkit.sweep.record import SweepRecord

BASE = RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=1, device="cpu", knn_k=0)
GRID = {"method": ["finetune", "lwf"], "seed": [0, 1]}
SWEEP = ["sweep", "demo", "--dataset", "digits", "--scenario", "task-il", "--tasks", "2", "--epochs", "1",
         "--device", "cpu", "--knn-k", "0", "--grid", "method=finetune,lwf", "--grid", "seed=0,1"]


def test_a_relative_runs_folder_is_made_absolute_for_the_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    plain = execute.run_cell
    monkeypatch.setattr(execute, "run_cell", lambda config, path, *rest: seen.append(path) or plain(config, path,
                                                                                                     *rest))
    run_sweep("relative", grid_cells(BASE, GRID), "runs", workers=0, progress=False)
    assert seen and all(path.startswith(str(tmp_path / "runs")) for path in seen)


def test_each_cell_keeps_what_it_printed_in_its_folder(tmp_path, monkeypatch):
    plain = runner_module.run

    def talkative(config, on_event=None, **where):
        print(f"hello from {config.method} seed {config.seed}")
        return plain(config, on_event, **where)

    monkeypatch.setattr(runner_module, "run", talkative)
    outcomes = run_sweep("talk", grid_cells(BASE, GRID), tmp_path, workers=0, progress=False)
    assert [o.status for o in outcomes] == ["finished"] * 4
    for o in outcomes:
        log = (tmp_path / o.run_id / CELL_LOG).read_text()
        assert f"hello from {o.cell.config.method} seed {o.cell.config.seed}" in log


def test_a_dry_run_lists_the_cells_and_writes_nothing(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--runs-dir", str(runs), *SWEEP, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 cells (dry run" in out and out.count("| pending | run |") == 4 and not runs.exists()
    assert main(["--runs-dir", str(runs), *SWEEP, "--workers", "0"]) == 0
    capsys.readouterr()
    assert main(["--runs-dir", str(runs), *SWEEP, "--dry-run"]) == 0
    assert capsys.readouterr().out.count("| finished | keep |") == 4


def test_the_sweeps_listing_shows_each_sweeps_progress_and_names_a_damaged_one(tmp_path, capsys):
    assert main(["--runs-dir", str(tmp_path), "sweeps"]) == 0
    assert "no sweeps stored" in capsys.readouterr().out
    run_sweep("done", grid_cells(BASE, GRID), tmp_path, workers=0, progress=False)
    record = SweepRecord("half", tmp_path)
    record.include(grid_cells(BASE, GRID))  # recorded, never run
    assert main(["--runs-dir", str(tmp_path), "sweeps"]) == 0
    out = capsys.readouterr().out
    assert "| done | 4 | 4/4 | 4 | 0 | 0 | 0 | 0 | 0 |" in out and "| half | 4 | 0/4 |" in out
    (tmp_path / "broken.sweep.json").write_text("{not json")
    assert main(["--runs-dir", str(tmp_path), "sweeps"]) == 2
    assert "| broken | unreadable:" in capsys.readouterr().out


@pytest.mark.parametrize("timeout, retries, workers, field", [
    (0, 0, None, "cell_timeout"), (-1.0, 0, None, "cell_timeout"), (math.nan, 0, None, "cell_timeout"),
    (True, 0, None, "cell_timeout"), (None, -1, None, "retries"), (None, 1.5, None, "retries"),
    (10.0, 0, 0, "cell_timeout"), (None, 2, 0, "retries")])
def test_limits_that_cannot_be_kept_are_refused_before_anything_is_written(tmp_path, timeout, retries, workers, field):
    with pytest.raises(ConfigError) as refused:
        run_sweep("limits", grid_cells(BASE, GRID), tmp_path, workers=workers, cell_timeout=timeout, retries=retries)
    assert refused.value.field == field and not list(tmp_path.iterdir())


def test_a_lost_cell_is_recorded_failed_with_the_reason_and_keeps_its_tasks(tmp_path):
    (cell,) = grid_cells(BASE, {"seed": [0]})
    run_dir = RunDir.create(cell.config.to_dict(), tmp_path)
    result = runner_module.run(cell.config.replace(tasks=2), run_dir=run_dir)
    result.status = "running"  # as a worker that died mid-run leaves it
    run_dir.write_result(result)
    stored = record_lost(run_dir, cell, "its worker died (ActorDiedError: killed)", 1)
    assert stored["status"] == "failed" and "worker died" in stored["failure"]["message"]
    again = run_dir.result()
    assert again.status == "failed" and again.tasks_done == 2 and "1 attempt(s)" in again.failure["message"]


def node_id(address: str) -> str:
    """A node id of Ray's form (56 hex digits) made from a fake node's address."""
    return address.encode().hex().ljust(56, "0")


class FakeRay:
    """ray's nodes / remote / get, where the node named in `blind` does not see the folder."""

    class exceptions:
        RayError = RuntimeError

    def __init__(self, blind: set[str]):
        self.blind = blind

    def nodes(self):
        return [{"Alive": True, "NodeID": node_id(n), "NodeManagerAddress": n} for n in ("10.0.0.1", "10.0.0.2")]

    def remote(self, fn):
        fake = self

        class Remote:
            def options(self, scheduling_strategy=None, **_):
                node = getattr(scheduling_strategy, "node_id", None)
                return type("Bound", (), {"remote": lambda _, marker: node not in {node_id(b) for b in fake.blind}
                                          and fn(marker)})()
        return Remote()

    def get(self, ref, timeout=None):
        return ref


def test_a_runs_folder_a_node_does_not_see_is_refused_naming_the_node(tmp_path):
    check_visible(FakeRay(set()), tmp_path)
    with pytest.raises(ConfigError) as refused:
        check_visible(FakeRay({"10.0.0.2"}), tmp_path)
    assert refused.value.field == "runs_dir" and "1 of 2 node(s) do not see it: 10.0.0.2" in str(refused.value)
    assert not list(tmp_path.iterdir())  # the marker is removed


@pytest.mark.ray
def test_a_cell_past_its_time_limit_is_stopped_retried_and_recorded(tmp_path):
    ray = pytest.importorskip("ray")
    slow = BASE.replace(tasks=5, epochs=200, scenario="class-il")
    (cell,) = grid_cells(slow, {"seed": [0]})
    try:
        (outcome,) = run_sweep("slow", [cell], tmp_path, workers=1, progress=False, cell_timeout=4, retries=1)
    finally:
        ray.shutdown()
    assert outcome.status == "failed"
    stored = RunDir(tmp_path / outcome.run_id).result()
    assert stored.status == "failed" and stored.failure["message"].startswith("the cell timed out after 4 s")
    assert "2 attempt(s)" in stored.failure["message"] and len(list_runs(tmp_path)) == 1


def test_holm_by_hand_and_p_values_as_scipy_gives_them():
    assert holm([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]  # 0.005<=.0125, .01<=.0167, .03>.025
    assert holm([0.01, 0.02, 0.03]) == [True, True, True]  # .01<=.0167, .02<=.025, .03<=.05
    assert holm([math.nan, 0.001]) == [False, True]
    gen = np.random.default_rng(0)
    for n in (3, 5, 10):
        a, b = gen.normal(size=n), gen.normal(size=n) + 0.5
        d = paired_difference(list(a), list(b))
        assert p_value(d) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)


def test_the_note_counts_the_comparisons_and_what_holm_keeps():
    strong = paired_difference([0.9, 0.8, 0.85, 0.9, 0.88], [0.1, 0.1, 0.12, 0.09, 0.1])
    weak = paired_difference([0.5, 0.52, 0.49], [0.49, 0.5, 0.5])
    assert multiplicity_note([strong]) is None
    note = multiplicity_note([strong, weak, None])
    assert note.startswith("2 comparisons at 95% each: 1 exclude 0") and "keeps 1 of them separated" in note


def test_the_sweep_table_prints_the_note_under_several_comparisons(tmp_path, capsys):
    assert main(["--runs-dir", str(tmp_path), *SWEEP, "--workers", "0", "--baseline", "method=finetune"]) == 0
    out = capsys.readouterr().out
    assert "4 comparisons at 95% each" in out and "Holm's correction" in out  # the 4 metrics of lwf against finetune
