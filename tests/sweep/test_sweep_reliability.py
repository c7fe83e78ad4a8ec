"""Sweeps under damage, races and bad input: a damaged record is refused (StoreError) naming the
cell and never writes outside the runs folder; two processes on one sweep run each cell once and leave a cell
another process is writing alone ("running elsewhere"); a Ray request that can never be met is
refused before any folder is made; grids have a stated size limit and a linear record; every
text parser and the command line answer odd input with a ConfigError, never another exception."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from labkit.cli import config_flags
from labkit.cli import option_values
from labkit.cli.main import main
from labkit.config import RunConfig
from labkit.experiment.store import RunDir, list_runs
from labkit.methods import METHODS
from labkit.methods.base import Method
from labkit.errors import ConfigError, StoreError
from labkit.sweep import execute, grid
from labkit.sweep import record as record_module
from labkit.sweep.execute import run_cell, run_sweep, stored_outcomes
from labkit.sweep.grid import Cell, grid_cells, parse_axis, parse_grid
from labkit.sweep.record import SweepRecord

ROOT = Path(__file__).resolve().parents[2]
BASE = RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=1, device="cpu")
TINY = ["--dataset", "digits", "--scenario", "task-il", "--tasks", "2", "--epochs", "1", "--device", "cpu"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes: what a command must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_record(runs: Path, name: str, data: object) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{name}.sweep.json").write_text(json.dumps(data))


def good_cell(seed: int = 0, run_id: object = None) -> dict:
    return {"key": {"seed": seed}, "config": BASE.replace(seed=seed).to_dict(), "run_id": run_id}


# -- a damaged record -------------------------------------------------------------------------

@pytest.mark.parametrize("cells, says", [
    ([good_cell(0), {**good_cell(1), "key": "seed=1"}], "cell 2's key 'seed=1'"),
    ([{**good_cell(0), "key": None}], "cell 1's key None"),
    ([{**good_cell(0), "key": {"seed": [0]}}], "cell 1's key"),
    ([{**good_cell(0), "config": [1, 2]}], "cell 1's config [1, 2]"),
    ([good_cell(0), good_cell(1), {**good_cell(2), "run_id": 7}], "cell 3's run_id 7"),
    ([good_cell(0), good_cell(1), good_cell(2, "../x")], "cell 3's run_id '../x' is not a folder name"),
    ([good_cell(0, "a/b")], "cell 1's run_id 'a/b'"),
    ([good_cell(0, ".hidden")], "cell 1's run_id '.hidden'"),
    ([good_cell(0), good_cell(0)], "cells 1 and 2 hold the same config"),
    ([good_cell(0, "r"), good_cell(1, "r")], "cells 1 and 2 name the same run folder"),
    ([{"key": {}, "config": {}}], "cell 1 is not an object with a key, a config and a run_id"),
    ("cells", "not an object with a list of cells"),
])
def test_a_damaged_record_is_refused_naming_the_cell_and_nothing_is_written(tmp_path, cells, says):
    runs = tmp_path / "R"
    outside = tmp_path / "x"  # where '../x' points: a run folder there must never be resumed
    outside.mkdir()
    (outside / "config.json").write_text(json.dumps(BASE.replace(seed=2).to_dict()))
    write_record(runs, "bad", {"name": "bad", "cells": cells} if cells != "cells" else {"cells": "cells"})
    before = tree(tmp_path)
    with pytest.raises(StoreError) as error:
        SweepRecord("bad", runs)
    assert error.value.field == "name" and says in error.value.valid and "move the file away" in error.value.valid
    with pytest.raises(StoreError, match=says.replace("[", r"\[").replace("]", r"\]")):
        stored_outcomes("bad", runs)
    assert main(["--runs-dir", str(runs), "sweep", "bad", "--workers", "0"]) == 2
    assert tree(tmp_path) == before


def test_a_record_whose_config_is_no_longer_valid_names_the_cell(tmp_path, capsys):
    write_record(tmp_path, "old", {"cells": [good_cell(0), {**good_cell(1), "config": {"tasks": "x"}}]})
    with pytest.raises(StoreError) as error:
        stored_outcomes("old", tmp_path)
    assert error.value.field == "name" and "cell 2's config is not a valid run now" in error.value.valid
    assert main(["--runs-dir", str(tmp_path), "sweep", "old"]) == 2
    assert "error: name='old'" in capsys.readouterr().err


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=5))
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)
RUN_IDS = st.sampled_from([None, "run-a", "run-b", "../x", "", ".", "..", "a/b", "/etc", ".hidden", 3, 1.5, True])
CONFIGS = st.one_of(
    st.just(BASE.to_dict()),
    st.builds(lambda seed: BASE.replace(seed=seed).to_dict(), st.integers(0, 3)),
    st.builds(lambda field, value: {**BASE.to_dict(), field: value},
              st.sampled_from(["tasks", "seed", "method", "lr", "pretrained", "data_root", "nope", "method_params"]),
              JSON),
    JSON)
CELLS = st.fixed_dictionaries({"key": st.one_of(st.dictionaries(st.text(max_size=5), SCALAR, max_size=2), JSON),
                               "config": CONFIGS, "run_id": RUN_IDS})
RECORDS = st.one_of(st.fixed_dictionaries({"name": st.just("p"), "cells": st.lists(CELLS, max_size=3)}),
                    st.fixed_dictionaries({"cells": st.lists(st.one_of(CELLS, JSON), max_size=3)}), JSON)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=RECORDS)
def test_any_record_is_read_or_refused_naming_the_field_and_never_writes_outside(tmp_path_factory, data):
    top = tmp_path_factory.mktemp("top")
    runs = top / "R"
    for run_id in ("run-a", "run-b"):  # run folders some records name
        RunDir.create(BASE.to_dict(), runs, run_id)
    write_record(runs, "p", data)
    (top / "x").mkdir()
    outside = tree(top / "x") | {"listing": "\n".join(sorted(p.name for p in top.iterdir())).encode()}
    try:
        SweepRecord("p", runs)
    except StoreError as error:  # "p" is a sweep name: only what is stored can be refused
        assert error.field == "name"
    try:
        stored_outcomes("p", runs)
    except StoreError as error:
        assert error.field == "name"
    except ConfigError as error:  # a record of no cells: no sweep of that name to show
        assert error.field == "name" and "no sweep of that name" in error.valid
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(execute, "run_cell", lambda *args: None)  # nothing trains: the cells "run elsewhere"
        code = main(["--runs-dir", str(runs), "sweep", "p", "--workers", "0"])
    event(f"sweep exit {code}")
    assert code in (0, 1, 2, 3, 4)
    assert tree(top / "x") | {"listing": "\n".join(sorted(p.name for p in top.iterdir())).encode()} == outside


# -- two processes, one sweep -----------------------------------------------------------------

def test_two_processes_running_one_sweep_run_each_cell_once(tmp_path):
    argv = [sys.executable, "-m", "labkit", "--runs-dir", str(tmp_path), "sweep", "same", *TINY,
            "--grid", "seed=0-3", "--workers", "0"]
    both = [subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    ends = [p.communicate(timeout=300) for p in both]
    for p, (_, err) in zip(both, ends):  # each cell either run here or left to the other: none failed
        assert p.returncode in (0, 4), err[-2000:]
        assert "error:" not in err and "failed" not in err
    runs = list_runs(tmp_path)
    recorded = [c["run_id"] for c in SweepRecord("same", tmp_path).cells]
    assert len(runs) == 4 and sorted(recorded) == sorted(r.run_id for r in runs)
    for run in runs:
        started = [e for e in run.events() if e["type"] == "run_started"]
        assert run.result().status == "finished" and len(started) == 1  # each cell trained once


HOLD = """
import sys, time
from pathlib import Path
from labkit.experiment.store import RunDir
with RunDir(Path(sys.argv[1])).writing():
    print("held", flush=True)
    time.sleep(120)
"""


def hold_folder(path: Path) -> subprocess.Popen:
    """Another process writing the run folder `path` (as `run --resume` would), until killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], env=ENV, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_cell_another_process_is_writing_is_left_alone(tmp_path, monkeypatch, capsys):
    def interrupt(self, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(Method, "after_task", interrupt)
    with pytest.raises(KeyboardInterrupt):  # a sweep stopped inside its cell: the cell resumes later
        run_sweep("held", grid_cells(BASE, {"seed": [0]}), tmp_path, workers=0, progress=False)
    monkeypatch.undo()
    [run] = list_runs(tmp_path)
    holder = hold_folder(run.path)  # `run --resume RUN` in another process
    try:
        before = tree(run.path)
        assert run_cell(BASE.to_dict(), str(run.path), 1) is None  # refused the folder's lock: nothing written
        [outcome] = run_sweep("held", grid_cells(BASE, {"seed": [0]}), tmp_path, workers=0, progress=False)
        assert outcome.status == "running elsewhere" and not outcome.ran and outcome.run_id == run.run_id
        assert main(["--runs-dir", str(tmp_path), "sweep", "held", "--workers", "0"]) == 4
        assert "running in another process" in capsys.readouterr().err
        assert tree(run.path) == before and len(list_runs(tmp_path)) == 1
    finally:
        holder.kill()
        holder.wait()
    [outcome] = run_sweep("held", grid_cells(BASE, {"seed": [0]}), tmp_path, workers=0, progress=False)
    assert outcome.status == "finished" and outcome.ran and outcome.run_id == run.run_id


def test_a_folder_taken_between_the_claim_and_the_run_is_left_alone(tmp_path, monkeypatch):
    """The other process takes the folder's lock after this one claimed the cell."""
    cells = grid_cells(BASE, {"seed": [0, 1]})
    holders = []
    plain = execute.run_cell

    def taken_first(config, path, threads, sweep=None):
        if config["seed"] == 0:
            holders.append(hold_folder(Path(path)))
        return plain(config, path, threads, sweep)

    monkeypatch.setattr(execute, "run_cell", taken_first)
    try:
        outcomes = run_sweep("race", cells, tmp_path, workers=0, progress=False)
        assert [o.status for o in outcomes] == ["running elsewhere", "finished"]
        assert not (tmp_path / outcomes[0].run_id / "result.json").exists()
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


def test_a_folder_whose_lock_cannot_be_taken_fails_without_being_written(tmp_path):
    run = RunDir.create(BASE.to_dict(), tmp_path)
    (run.path / "lock").mkdir()  # a damaged lock file: not another process
    result = run_cell(BASE.to_dict(), str(run.path), 1)
    assert result["status"] == "failed" and "lock" in result["failure"]["message"]
    assert not (run.path / "result.json").exists()


def test_record_writers_never_lose_each_others_changes(tmp_path):
    cells = [Cell({"seed": s}, BASE.replace(seed=s)) for s in range(3)]
    first, second = SweepRecord("two", tmp_path), SweepRecord("two", tmp_path)
    first.include(cells[:2])
    second.include(cells)  # reads first's cells again before adding its own
    first.assign(cells[0], "run-0")
    second.assign(cells[1], "run-1")
    first.assign(cells[2], "run-2")
    assert [c["run_id"] for c in SweepRecord("two", tmp_path).cells] == ["run-0", "run-1", "run-2"]


# -- Ray requests that can never be met -------------------------------------------------------

def no_ray(*args, **kwargs):
    raise AssertionError("Ray was started")


def test_a_sweep_with_every_cell_done_does_not_start_ray(tmp_path, monkeypatch):
    cells = grid_cells(BASE, {"seed": [0, 1]})
    run_sweep("done", cells, tmp_path, workers=0, progress=False)
    monkeypatch.setattr(execute, "start_ray", no_ray)
    again = run_sweep("done", cells, tmp_path, progress=False)  # workers None: would be Ray
    assert [o.status for o in again] == ["finished"] * 2 and not any(o.ran for o in again)
    assert main(["--runs-dir", str(tmp_path), "sweep", "done"]) == 0


@pytest.mark.parametrize("address, says", [
    ("127.0.0.1:1", "nothing accepted a connection"), ("nonsense", "HOST:PORT"), ("10.0.0.1:99999", "HOST:PORT"),
    ("ray://127.0.0.1", "HOST:PORT"),
])
def test_an_address_that_cannot_be_joined_is_refused_at_once(tmp_path, monkeypatch, address, says):
    monkeypatch.setattr(execute, "start_ray", no_ray)
    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        run_sweep("far", grid_cells(BASE, {"seed": [0]}), tmp_path / "R", address=address, progress=False)
    assert error.value.field == "address" and says in error.value.valid
    assert time.monotonic() - started < 30 and not (tmp_path / "R").exists()


def test_ray_client_without_its_dependencies_says_what_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(execute.importlib.util, "find_spec",
                        lambda name, *a: None if name == "grpc" else real(name, *a))
    monkeypatch.setattr(execute, "start_ray", no_ray)
    with pytest.raises(ConfigError, match=r"ray\[client\]") as error:
        run_sweep("far", grid_cells(BASE, {"seed": [0]}), tmp_path / "R", address="ray://127.0.0.1:10001")
    assert error.value.field == "address" and not (tmp_path / "R").exists()


def test_more_cpus_per_run_than_a_local_ray_has_are_refused_before_it_starts(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    monkeypatch.setattr(execute, "start_ray", no_ray)
    with pytest.raises(ConfigError) as error:
        run_sweep("big", grid_cells(BASE, {"seed": [0]}), tmp_path / "R", workers=2, cpus_per_run=3)
    assert error.value.field == "cpus_per_run" and "at most 2" in error.value.valid
    assert not (tmp_path / "R").exists()


@pytest.mark.parametrize("nodes, cpus, gpus, field", [
    ([{"CPU": 2}], 8, None, "cpus_per_run"), ([{"CPU": 2}], 1, 0.5, "gpus_per_run"),
    ([{"CPU": 4}, {"CPU": 1, "GPU": 1}], 2, 0.5, "gpus_per_run"),  # the node with a GPU has too few CPUs
])
def test_a_request_no_node_can_meet_is_refused(nodes, cpus, gpus, field):
    with pytest.raises(ConfigError) as error:
        execute.fit_request(nodes, cpus, gpus)
    assert error.value.field == field and "the cluster offers" in error.value.valid


def test_a_request_some_node_meets_is_kept():
    assert execute.fit_request([{"CPU": 2}], 2, None) == 0.0
    assert execute.fit_request([{"CPU": 2, "GPU": 1}], 1, None) == 0.25
    assert execute.fit_request([{"CPU": 2, "GPU": 1}], 2, 0.5) == 0.5


def test_a_gpu_request_on_a_machine_without_one_fails_fast(tmp_path):
    """A local Ray's GPUs are torch's: the request is refused before Ray starts and before any folder."""
    pytest.importorskip("ray")
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    runs = tmp_path / "R"
    done = subprocess.run([sys.executable, "-m", "labkit", "--runs-dir", str(runs), "sweep", "gpu", *TINY,
                           "--grid", "seed=0", "--workers", "1", "--gpus-per-run", "0.5"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error: gpus_per_run=0.5 is not valid: at most 0" in done.stderr and not runs.exists()
    assert "Started a local Ray instance" not in done.stderr


# -- grid size and a linear record ------------------------------------------------------------

@pytest.mark.parametrize("items", [["seed=0-4294967295"], ["seed=0-99", "lr=0.1,0.2,0.3,0.4", "epochs=1-30"],
                                   ["seed=0-5000,6000-12000"]])
def test_a_grid_over_the_limit_is_refused_before_it_is_built(items):
    with pytest.raises(ConfigError, match="at most 10,000 cells") as error:
        parse_grid(items)
    assert error.value.field == "grid" and "--max-cells" in error.value.valid


def test_the_limit_is_stated_and_can_be_raised(tmp_path, capsys):
    assert len(parse_grid(["seed=0-19"], max_cells=20)["seed"]) == 20
    with pytest.raises(ConfigError, match="this grid has 21"):
        parse_grid(["seed=0-20"], max_cells=20)
    with pytest.raises(ConfigError, match="this grid has 1,000,000,000,000"):
        grid_cells(BASE, {"seed": range(10**12)})
    with pytest.raises(ConfigError, match="this grid has 12"):
        grid_cells(BASE, {"seed": range(4), "lr": [0.1, 0.2, 0.3]}, max_cells=10)
    with pytest.raises(ConfigError, match="at most 10"):
        grid_cells(BASE, {"seed": (s for s in range(10**12))}, max_cells=10)  # a generator: never listed whole
    assert main(["--runs-dir", str(tmp_path), "sweep", "big", *TINY, "--grid", "seed=0-20", "--max-cells", "20"]) == 2
    assert "error: grid='seed=0-20' is not valid: at most 20 cells (this grid has 21)" in capsys.readouterr().err
    assert main(["--runs-dir", str(tmp_path), "sweep", "big", *TINY, "--grid", "seed=0", "--max-cells", "0"]) == 2
    assert "error: max_cells=0" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_a_large_record_is_read_and_searched_in_linear_time(tmp_path, monkeypatch):
    n = 4000
    cells = [Cell({"seed": s}, BASE.replace(seed=s)) for s in range(n)]
    saves, dumps = [], []
    plain_save, plain_dumps = record_module.write_json_atomic, json.dumps
    monkeypatch.setattr(record_module, "write_json_atomic", lambda *a: (saves.append(1), plain_save(*a)))
    monkeypatch.setattr(json, "dumps", lambda *a, **k: (dumps.append(1), plain_dumps(*a, **k))[1])
    record = SweepRecord("big", tmp_path)
    record.include(cells)
    assert len(saves) == 1  # include() saves once
    assert all(record.run_id(c) is None for c in cells) and all(record.run_id(c) is None for c in cells)
    again = SweepRecord("big", tmp_path)
    assert len(again.cells) == n and all(again.run_id(c) is None for c in cells)
    assert len(dumps) <= 4 * n  # a dict index: a few canonical texts per cell, not one per cell and lookup


# -- input that passed the checks, then crashed -----------------------------------------------

def checkpoint_like(tmp_path: Path) -> str:
    path = tmp_path / "not-a-checkpoint.pt"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    return str(path)


@pytest.mark.parametrize("argv, field", [
    (["sweep", "u", *TINY, "--grid", "seed=²-³"], "grid[seed]"),
    (["sweep", "u", *TINY, "--grid", "seed=٣"], "seed"),
    (["sweep", "u", *TINY, "--grid", "tasks=1-²"], "grid[tasks]"),
    (["table", *TINY, "--methods", "finetune", "--seeds", "0,١"], "seeds"),
    (["sweep", "u", *TINY, "--grid", "seed=0", "--csv", "/missing/dir/x.csv"], "csv"),
    (["sweep", "u", *TINY, "--grid", "seed=0", "--csv", "."], "csv"),
    (["sweep", "u", *TINY, "--grid", "method=finetune,lwf", "--baseline", "method=nope"], "baseline"),
    (["sweep", "u", *TINY, "--grid", "seed=0,1", "--baseline", "seed=0"], "baseline"),
    (["sweep", "u", *TINY, "--grid", "seed=0", "--grid", "pretrained=CHECKPOINT"], "pretrained"),
    (["table", *TINY, "--methods", "finetune", "--pretrained", "CHECKPOINT"], "pretrained"),
    (["tune", "t", *TINY, "--search", "lr=0.01,0.1", "--search-seed", "-1"], "search_seed"),
    (["tune", "t", *TINY, "--search", "lr=0.01,0.1", "--samples", "0"], "samples"),
    (["tune", "t", *TINY, "--search", "lr=0.01,0.1", "--samples", "-3"], "samples"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, capsys, argv, field):
    checkpoint = checkpoint_like(tmp_path)  # a file, but not a checkpoint (as /etc/passwd is not)
    argv = [a.replace("CHECKPOINT", checkpoint) for a in argv]
    runs = tmp_path / "R"
    assert main(["--runs-dir", str(runs), *argv]) == 2
    assert f"error: {field}=" in capsys.readouterr().err
    assert not runs.exists()


@pytest.mark.parametrize("option, text", [("--seed", "٣"), ("--seed", "²"), ("--lr", "٠.١"), ("--workers", "٢"),
                                          ("--cpus-per-run", "²"), ("--gpus-per-run", "½"), ("--max-cells", "١٠")])
def test_options_take_ascii_digits_only(tmp_path, capsys, option, text):
    with pytest.raises(SystemExit) as stop:
        main(["--runs-dir", str(tmp_path / "R"), "sweep", "u", *TINY, "--grid", "seed=0", option, text])
    assert stop.value.code == 2 and f"argument {option}: {text!r} is not a" in capsys.readouterr().err
    assert not (tmp_path / "R").exists()


# -- text parsers fed any text ----------------------------------------------------------------

KEYS = st.sampled_from(["seed", "tasks", "epochs", "lr", "method", "freeze_old_heads", "param.lamb", "x", ""])


@settings(max_examples=300, deadline=None)
@given(key=KEYS, text=st.text(max_size=30))
def test_grid_parsers_read_any_text_or_refuse_it(key, text):
    for call in (lambda: parse_axis(text), lambda: parse_axis(f"{key}={text}"),
                 lambda: parse_grid([f"{key}={text}", text]), lambda: parse_grid([f"seed={text}"], max_cells=5)):
        try:
            call()
        except ConfigError:
            pass


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30), items=st.lists(st.text(max_size=10), max_size=4))
def test_list_parsers_read_any_text_or_refuse_it(text, items):
    for call in (lambda: option_values.parse_names(text, METHODS, "methods"), lambda: config_flags.parse_params(items),
                 lambda: config_flags.parse_params([text])):
        try:
            call()
        except ConfigError:
            pass
    try:
        seeds = option_values.parse_seeds(text)
    except ConfigError:
        return
    assert all(0 <= s <= 2**32 - 1 for s in seeds) and text.isascii()


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=20))
def test_number_options_read_ascii_numbers_or_refuse_them(text):
    import argparse

    for convert in (option_values.whole_number, option_values.real_number):
        try:
            value = convert(text)
        except argparse.ArgumentTypeError:
            continue
        assert text.strip().isascii() and isinstance(value, (int, float))


def test_seeds_are_ascii_digits(tmp_path):
    assert option_values.parse_seeds("0, 1,2") == [0, 1, 2]
    for bad in ("²", "١", "+1", "-1", "1_0", "0x1"):
        with pytest.raises(ConfigError):
            option_values.parse_seeds(bad)
    assert grid.typed_value("seed", "12") == 12 and grid.typed_value("lr", "1e-3") == 0.001
