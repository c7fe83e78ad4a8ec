"""Sweeps: grids parsed and checked, cells run on a local Ray and on a Ray cluster joined by
address, a re-run that runs nothing, a failing cell that leaves the others finished, an
interrupted cell that resumes in its own folder, and paired effect sizes from stored runs."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.analysis import effects
from labkit.config import RunConfig
from labkit.experiment.store import list_runs
from labkit.methods.base import Method
from labkit.errors import ConfigError
from labkit.sweep.execute import run_sweep
from labkit.sweep.grid import grid_cells, parse_grid
from labkit.sweep.record import SweepRecord

BASE = RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=1, device="cpu")
GRID = {"method": ["finetune", "lwf"], "seed": [0, 1]}
ROOT = Path(__file__).resolve().parents[2]


def test_the_command_line_grid_reads_as_the_python_one():
    assert parse_grid(["method=finetune,lwf", "seed=0-1"]) == GRID
    cells = grid_cells(RunConfig(method="ewc"), parse_grid(["param.lamb=100,1000"]))
    assert [c.config.method_params for c in cells] == [{"lamb": 100.0}, {"lamb": 1000.0}]
    assert [c.label for c in grid_cells(BASE, GRID)] == ["finetune", "finetune", "lwf", "lwf"]


@pytest.mark.parametrize("items, field", [
    (["methd=lwf"], "grid"), (["method="], "grid"), (["seed=3-1"], "grid[seed]"), (["seed=0,,1"], "grid[seed]"),
    (["seed=0,0"], "grid[seed]"), (["epochs=two"], "epochs"), (["seed=0", "seed=1"], "grid"),
])
def test_bad_grid_items_name_what_is_wrong(items, field):
    with pytest.raises(ConfigError) as error:
        parse_grid(items)
    assert error.value.field == field


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.sampled_from(["seed", "epochs", "lr", "method", "freeze_old_heads", "param.lamb", "x"]))
def test_any_grid_text_is_read_or_refused_with_a_config_error(values, key):
    try:
        parsed_key, parsed = parse_grid([f"{key}={values}"]).popitem()
    except ConfigError as error:
        assert error.field in ("grid", f"grid[{key}]", key)
    else:
        assert parsed_key == key and parsed and len(parsed) >= len(values.split(","))


def test_a_bad_cell_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="method_params"):
        cells = grid_cells(BASE, {"method": ["finetune", "ewc"], "param.lamb": ["-1"]})
        run_sweep("bad", cells, tmp_path, workers=0)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_a_sweep_on_local_ray_records_failures_and_reruns_nothing(tmp_path, local_ray):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a pre-trained file")
    cells = grid_cells(BASE, {**GRID, "pretrained": ["", str(broken)]})
    outcomes = run_sweep("tiny", cells, tmp_path / "runs", workers=2, progress=False)
    assert {o.status for o in outcomes if o.cell.key["pretrained"] == ""} == {"finished"}
    assert {o.status for o in outcomes if o.cell.key["pretrained"] != ""} == {"failed"}
    failed = next(o for o in outcomes if o.status == "failed")
    assert "pretrained" in failed.result.failure["message"]  # the error is kept in the cell's folder
    assert len(list_runs(tmp_path / "runs")) == 8 and len(SweepRecord("tiny", tmp_path / "runs").cells) == 8
    again = run_sweep("tiny", [c for c in cells if c.key["pretrained"] == ""], tmp_path / "runs", workers=2,
                      progress=False)
    assert not any(o.ran for o in again) and len(list_runs(tmp_path / "runs")) == 8
    assert [o.run_id for o in again] == [o.run_id for o in outcomes if o.cell.key["pretrained"] == ""]


def test_an_interrupted_cell_resumes_in_its_folder_and_the_finished_ones_stay(tmp_path, monkeypatch):
    cells = grid_cells(BASE, GRID)
    plain = Method.after_task
    calls = []

    def interrupt_second_cell(self, ctx):
        calls.append(ctx.t)
        if len(calls) == 3:  # the second cell's first task: Ctrl-C
            raise KeyboardInterrupt
        plain(self, ctx)

    monkeypatch.setattr(Method, "after_task", interrupt_second_cell)
    with pytest.raises(KeyboardInterrupt):
        run_sweep("stop", cells, tmp_path, workers=0, progress=False)
    monkeypatch.setattr(Method, "after_task", plain)
    record = SweepRecord("stop", tmp_path)
    assert [c["run_id"] is not None for c in record.cells] == [True, True, False, False]
    outcomes = run_sweep("stop", cells, tmp_path, workers=0, progress=False)
    assert [o.ran for o in outcomes] == [False, True, True, True]
    assert [o.status for o in outcomes] == ["finished"] * 4
    assert outcomes[1].run_id == record.cells[1]["run_id"] and len(list_runs(tmp_path)) == 4


def test_effect_rows_pair_by_seed_against_the_baseline(tmp_path):
    outcomes = run_sweep("pairs", grid_cells(BASE, {"method": ["finetune", "lwf"], "seed": [0, 1, 2]}), tmp_path,
                         workers=0, progress=False)
    rows = effects.effect_rows(outcomes, {"method": "finetune"})
    assert rows[0]["is_baseline"] and rows[0]["vs"] == {}
    d = rows[1]["vs"]["taw_total_average_accuracy"]
    by_seed = {o.cell.config.seed: o.result.summary("taw")["total_average_accuracy"] for o in outcomes}
    lwf = [o.result.summary("taw")["total_average_accuracy"] for o in outcomes if o.cell.key["method"] == "lwf"]
    base = [o.result.summary("taw")["total_average_accuracy"] for o in outcomes if o.cell.key["method"] == "finetune"]
    assert d.n == 3 and d.mean == pytest.approx(sum(a - b for a, b in zip(lwf, base)) / 3) and by_seed
    table = effects.markdown(rows)
    assert "| finetune |" in table and "baseline" in table and "Δ TAw acc" in table
    assert "lwf,taw_total_average_accuracy" in effects.to_csv(rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((socket.gethostbyname(socket.gethostname()), port)) == 0


@pytest.mark.ray
def test_a_sweep_joins_a_ray_cluster_by_address(tmp_path):
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).with_name("ray")
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    # the cluster does not see this checkout (labkit is shipped with the job); token authentication
    # off on both sides, for a cluster on this machine only
    env = {**os.environ, "RAY_ADDRESS": "", "PYTHONPATH": "", "RAY_AUTH_MODE": "disabled"}
    # Ray reads a loopback address as this node's own IP (services.canonicalize_bootstrap_address),
    # so the head listens on that one: the test still never leaves this machine
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
                             "--temp-dir", temp_dir, "--disable-usage-stats"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "head.log", "w"))
    try:
        runs = tmp_path / "runs"
        # a relative runs folder (the default data/runs is one): the sweep makes it absolute for the workers
        argv = [sys.executable, "-m", "labkit", "--runs-dir", "runs", "sweep", "cluster", "--dataset", "digits",
                "--scenario", "task-il", "--tasks", "2", "--epochs", "1", "--device", "cpu",
                "--grid", "method=finetune,lwf", "--grid", "seed=0", "--baseline", "method=finetune",
                "--address", f"127.0.0.1:{port}"]
        deadline = time.monotonic() + 120
        while not listening(port):  # the head takes a while to start (a driver that comes too early hangs)
            assert time.monotonic() < deadline and head.poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(1)
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"})
        assert done.returncode == 0, done.stderr[-2000:]
        assert "| lwf |" in done.stdout and "(1 seed)" in done.stdout
        assert {r.result().status for r in list_runs(runs)} == {"finished"}
    finally:
        if head.poll() is None:
            os.killpg(head.pid, 15)
            head.wait(timeout=60)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ctrl_c_in_a_sweep_says_how_to_resume_it(tmp_path, monkeypatch, capsys):
    from labkit.cli.main import main

    def interrupt(self, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(Method, "after_task", interrupt)
    code = main(["--runs-dir", str(tmp_path), "sweep", "stop", "--tasks", "2", "--epochs", "1", "--device", "cpu",
                 "--grid", "seed=0,1", "--workers", "0"])
    assert code == 130 and "sweep stop` resumes the others" in capsys.readouterr().err
    assert [r.result().status for r in list_runs(tmp_path)] == ["stopped"]  # the second cell never started
