"""A run that diverges says so in every view (runner, result.json, command line, live state, the
app's live and Compare tabs, seed tables), keeps the tasks it completed, and exits non-zero; a
run that fails keeps its traceback."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers import QUICK
from streamlit.testing.v1 import AppTest

from labkit import RunConfig, RunDir, run
from labkit.analysis.tables import markdown_table, seed_table
from labkit.app import panels
from labkit.cli.config_flags import config_from
from labkit.cli.main import build_parser, main
from labkit.experiment import runner as runner_module
from labkit.experiment.outcome import EXPLOSION_FACTOR, WEIGHT_FACTOR, divergence, weight_divergence
from labkit.experiment.result import RunResult
from labkit.methods import Method
from labkit.methods.dlcft import OSLA
from labkit.views import run_status

APP = str(Path(__file__).resolve().parents[2] / "app.py")
CONFIG = QUICK.replace(tasks=3, epochs=2)


def test_divergence_criterion_by_hand():
    assert divergence(0.4, 2.3) is None
    assert divergence(EXPLOSION_FACTOR * 2.3 * 0.99, 2.3) is None
    assert "exploded" in divergence(EXPLOSION_FACTOR * 2.3 * 1.01, 2.3)
    for bad in (math.nan, math.inf, -math.inf):
        assert "became" in divergence(bad, 2.3)


def test_weight_divergence_criterion_by_hand():
    assert weight_divergence(1.5, 1.0) is None
    assert weight_divergence(WEIGHT_FACTOR * 13.0 * 0.99, 13.0) is None
    assert "blew up" in weight_divergence(WEIGHT_FACTOR * 13.0 * 1.01, 13.0)
    for bad in (math.nan, math.inf):
        assert "non-finite" in weight_divergence(bad, 13.0)


def test_a_bounded_loss_whose_weights_blow_up_ends_diverged(tmp_path, capsys):
    """The spherical loss cannot explode, but at lr 1000 (Adam, its recipe) the first epoch grows
    the weights about 1e5 x: every view used to call the run finished."""
    argv = ["run", "--dataset", "digits", "--tasks", "2", "--epochs", "1", "--loss", "spherical", "--lr", "1000",
            "--device", "cpu", "--knn-k", "0"]
    assert main(["--runs-dir", str(tmp_path), *argv]) == 3
    (run_dir,) = [RunDir(p) for p in tmp_path.iterdir() if p.is_dir()]
    stored = run_dir.result()
    assert stored.status == "diverged" and stored.tasks_done == 0
    assert stored.failure["task"] == 0 and stored.failure["reason"].startswith("the weights blew up")
    assert "the weights blew up" in capsys.readouterr().err


# weights turned non-finite (or huge) by the task's last step, after its last loss was read: the
# run used to hand them to OSLA's after_task, whose multinomial raised, and end "failed"
NAN_BEFORE_AFTER_TASK = RunConfig(dataset="digits", tasks=2, epochs=1, device="cpu", knn_k=0, method="osla",
                                  lr=314.0, weight_decay=1000.0, batch_size=2000)


def test_weights_blown_up_by_the_last_step_end_diverged_before_after_task(monkeypatch):
    seen = []
    monkeypatch.setattr(OSLA, "after_task", lambda self, ctx: seen.append(ctx.t))
    result = run(NAN_BEFORE_AFTER_TASK)
    assert result.status == "diverged" and result.failure["task"] == 0 and seen == []
    assert "weights" in result.failure["reason"]


# methods at the command line's defaults (one of each family; DLCFT's and OSLA's without their
# pre-training, to stay quick): the parameter norm stays far under WEIGHT_FACTOR x the task's start
# (measured: at most 1.6 x over every method, loss and scenario at the full defaults, see labkit.experiment.outcome)
DEFAULT_METHODS = ["finetune", "ewc", "lwf", "mas", "er", "der", "lucir", "dlcft", "osla", "joint"]


@pytest.mark.parametrize("method", DEFAULT_METHODS)
def test_runs_at_the_defaults_stay_far_from_the_weight_rule(method, monkeypatch):
    ratios = []
    plain = runner_module.weight_divergence

    def measured(norm, start):
        ratios.append(norm / start)
        return plain(norm, start)

    monkeypatch.setattr(runner_module, "weight_divergence", measured)
    config = config_from(build_parser().parse_args(["run", "--method", method, "--tasks", "3", "--epochs", "2",
                                                    "--pretrained", "", "--device", "cpu", "--knn-k", "0"]))
    result = run(config)
    assert result.status == "finished", result.failure
    assert len(ratios) == 6 and max(ratios) < 3, ratios


@pytest.fixture
def nan_in_task_2(monkeypatch):
    """Every method's loss becomes NaN from the second task on (the first is learned normally)."""
    plain = Method.training_loss

    def loss(self, ctx, x, y):
        value = plain(self, ctx, x, y)
        return value * torch.nan if ctx.t >= 1 else value

    monkeypatch.setattr(Method, "training_loss", loss)


def test_a_nan_loss_stops_the_run_as_diverged_and_keeps_the_completed_task(tmp_path, nan_in_task_2):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    events = []
    result = run(CONFIG, events.append, run_dir=run_dir)
    assert result.status == "diverged" and not result.finished
    assert result.tasks_done == 1 and len(result.epoch_losses) == 1  # task 1 kept, nothing of task 2
    assert result.failure["task"] == 1 and result.failure["epoch"] == 0  # stopped at its first epoch
    assert result.failure["last_finite_loss"] == result.epoch_losses[0][-1]
    assert events[-1].type == "run_diverged" and sum(e.type == "epoch_ended" for e in events) == 3
    stored = run_dir.result()
    assert stored.status == "diverged" and stored.acc_tag == result.acc_tag and stored.failure == result.failure


def test_every_view_says_diverged(tmp_path, nan_in_task_2, capsys, monkeypatch):
    finished = run(CONFIG.replace(tasks=1), run_dir=RunDir.create(CONFIG.replace(tasks=1).to_dict(), tmp_path))
    assert finished.status == "finished"
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    run(CONFIG, run_dir=run_dir)
    capsys.readouterr()
    # command line: runs, show (exit 3, one line on stderr)
    assert main(["--runs-dir", str(tmp_path), "runs"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "diverged (1/3 tasks)" in lines[run_dir.run_id] and "finished" not in lines[run_dir.run_id]
    assert main(["--runs-dir", str(tmp_path), "show", run_dir.run_id]) == 3
    out = capsys.readouterr()
    assert "diverged in task 2, epoch 1" in out.out and out.err.count("\n") == 1 and "diverged" in out.err
    # the live state and the Compare table
    state = run_status.run_state(run_dir)
    assert state.status == "diverged" and not state.active and "became nan" in state.error
    assert "diverged" in state.progress_text()
    table = panels.final_metrics([state])
    assert list(table["status"]) == ["diverged"] and list(table["tasks done"]) == ["1/3"]
    assert panels.run_label(state).endswith(", diverged")
    # the app, following the run and on its Compare tab
    monkeypatch.setenv("LABKIT_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_dir.run_id
    at.run()
    assert not at.exception, at.exception
    assert any("diverged" in e.value for e in at.error)
    assert "diverged" in at.get("progress")[0].proto.text
    at.session_state["tab"] = "Compare runs"  # only the open tab's content runs
    at.run()
    assert not at.exception, at.exception
    compare = at.tabs[2].dataframe[0].value  # Live run, Race, Compare runs, Papers' claims
    assert dict(zip(compare["run"], compare["status"]))[run_dir.run_id] == "diverged"


def test_the_command_line_exits_3_for_a_diverged_run(tmp_path, nan_in_task_2, capsys):
    code = main(["--runs-dir", str(tmp_path), "run", "--tasks", "2", "--epochs", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 3 and "diverged in task 2" in err and "1 completed task(s) are kept" in err


def test_tables_leave_diverged_runs_out_of_their_means_and_count_them():
    good = RunResult(config={}, acc_taw=[[1.0], [0.5, 0.9]], acc_tag=[[1.0], [0.5, 0.9]], status="finished")
    bad = RunResult(config={}, acc_taw=[[1.0]], acc_tag=[[1.0]], status="diverged")  # would raise the mean
    rows = seed_table({"lwf": [good, bad], "lwf-s": [bad]})
    assert rows[0]["taw_total_average_accuracy"] == pytest.approx((0.8, 0.0)) and rows[0]["diverged"] == 1
    table = markdown_table(rows)
    assert "| lwf | 80.0 ± 0.0 |" in table and "1 of 2 (1 diverged)" in table
    assert "| lwf-s | - | - | - | - | 0 of 1 (1 diverged) |" in table  # no mean; the runs column says why


def test_a_failing_run_keeps_its_completed_tasks_and_its_traceback(tmp_path, monkeypatch):
    plain = Method.after_task

    def after_task(self, ctx):
        if ctx.t == 1:
            raise RuntimeError("boom in after_task")
        plain(self, ctx)

    monkeypatch.setattr(Method, "after_task", after_task)
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        run(CONFIG, run_dir=run_dir)
    stored = run_dir.result()
    assert stored.status == "failed" and stored.tasks_done == 1
    assert "Traceback" in stored.failure["traceback"] and "boom in after_task" in stored.failure["traceback"]
    state = run_status.run_state(run_dir)
    assert state.status == "failed" and "RuntimeError: boom" in state.error and "after_task" in state.details


def test_table_names_diverged_runs_and_exits_3(nan_in_task_2, capsys, tmp_path):
    code = main(["--runs-dir", str(tmp_path), "table", "--tasks", "2", "--epochs", "1", "--methods", "finetune",
                 "--seeds", "0,1", "--device", "cpu", "--workers", "0"])
    out = capsys.readouterr()
    assert code == 3 and "2 of 2 runs diverged" in out.err
    assert "finetune seed 0: diverged in task 2" in out.err and "| finetune | - | - | - | - | 0 of 2 (2 diverged) |" in out.out
