"""One meaning per error: StoreError for what is stored (a damaged run folder, a runs folder the
disk will not grow), ConfigError for what the user gave (a field, a run id naming nothing, a runs
folder that is no folder); both LabkitError, both pickled with their fields, so a worker process
raises either to its parent; and the command line reports a damaged folder in one `error:` line."""
from __future__ import annotations

import concurrent.futures
import errno
import json
import multiprocessing
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.config import RunConfig
from labkit.errors import ConfigError, LabkitError, StoreError
from labkit.experiment import store
from labkit.experiment.result import RunResult
from labkit.experiment.store import RunDir

ROOT = Path(__file__).resolve().parents[2]
CONFIG = RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=1, device="cpu")
RUN_ID = "20260101-000000-finetune-digits-abcdef"


def folder(runs_dir: Path, result: bytes | None = None) -> RunDir:
    """A run folder holding config.json, and result.json holding `result` when given."""
    run_dir = RunDir.create(CONFIG.to_dict(), runs_dir, run_id=RUN_ID)
    if result is not None:
        (run_dir.path / "result.json").write_bytes(result)
    return run_dir


def good_result() -> dict:
    """A result as the runner writes it after both tasks (written by hand: nothing trains)."""
    return RunResult(config=CONFIG.to_dict(), run_id=RUN_ID, acc_taw=[[0.9], [0.7, 0.8]],
                     acc_tag=[[0.9], [0.1, 0.8]], epoch_losses=[[1.0], [0.5]], task_seconds=[0.1, 0.2],
                     status="finished").to_dict()


# ---------------------------------------------------------------- (1) and (2): which is which


@pytest.mark.parametrize("name, text", [("result.json", b"{half"), ("result.json", b'{"acc_taw": [[2.0]]}'),
                                        ("config.json", b"[1, 2]")])
def test_a_damaged_folder_is_a_store_error_naming_the_run_and_file_and_no_config_error(tmp_path, name, text):
    run_dir = folder(tmp_path)
    (run_dir.path / name).write_bytes(text)
    with pytest.raises(StoreError) as caught:
        run_dir.config() if name == "config.json" else run_dir.result()
    error = caught.value
    assert not isinstance(error, ConfigError) and isinstance(error, LabkitError)
    assert error.field == "run" and error.value == RUN_ID and name in error.valid
    assert str(error).startswith(f"run='{RUN_ID}' is not valid: its {name}")


def test_json_nested_deeper_than_python_reads_is_a_store_error_in_every_file(tmp_path):
    run_dir = folder(tmp_path, nested(100_000))
    with pytest.raises(StoreError, match="result.json cannot be read"):
        run_dir.result()
    (run_dir.path / "events.jsonl").write_bytes(b'{"type": "run_started"}\n' + nested(100_000) + b"\n")
    with pytest.raises(StoreError, match="events.jsonl line 2 is nested too deep"):
        run_dir.events()
    (run_dir.path / "config.json").write_bytes(nested(100_000))
    with pytest.raises(StoreError, match="config.json cannot be read"):
        run_dir.config()


def test_bad_input_is_a_config_error_and_no_store_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        RunConfig(tasks=0).validate()
    assert caught.value.field == "tasks" and caught.value.value == 0 and not isinstance(caught.value, StoreError)
    with pytest.raises(ConfigError) as caught:  # a run id naming no stored run: what the user typed
        RunDir.open("no-such-run", tmp_path)
    assert caught.value.field == "run_id" and not isinstance(caught.value, StoreError)


def test_a_runs_folder_that_is_a_file_is_bad_input_and_a_full_disk_is_stored_state(tmp_path, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(ConfigError) as caught:
        RunDir.create(CONFIG.to_dict(), a_file)
    assert caught.value.field == "runs_dir" and not isinstance(caught.value, StoreError)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "write_json_atomic", full)
    with pytest.raises(StoreError, match=r"the disk is full \(ENOSPC") as caught:
        RunDir.create(CONFIG.to_dict(), tmp_path / "runs")
    assert caught.value.field == "runs_dir" and not isinstance(caught.value, ConfigError)


# ---------------------------------------------------------------- (3): across processes


FIELDS = st.text(min_size=1, max_size=20)
VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.lists(st.integers(), max_size=4)


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from([ConfigError, StoreError]), field=FIELDS, value=VALUES, valid=st.text(max_size=60))
def test_both_pickle_with_their_fields(kind, field, value, valid):
    error = kind(field, value, valid)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is kind
    assert (back.field, back.value, back.valid, str(back)) == (field, value, valid, str(error))


def test_a_store_error_raised_in_a_worker_process_arrives_as_one(tmp_path):
    damaged = folder(tmp_path / "a", b"{half")
    sound = RunDir.create(CONFIG.to_dict(), tmp_path / "b", run_id=RUN_ID)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: the error crosses as pickled bytes
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        with pytest.raises(StoreError) as caught:  # not BrokenProcessPool: the worker lives on
            pool.submit(damaged.result).result(timeout=120)
        assert pool.submit(sound.result).result(timeout=120) is None  # the same worker answers again
    assert caught.value.field == "run" and caught.value.value == RUN_ID and "result.json" in caught.value.valid


# ---------------------------------------------------------------- (4): the command line


def test_show_on_a_damaged_folder_exits_2_with_one_error_line(tmp_path):
    folder(tmp_path, b'{"acc_taw": "many"}')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shown = subprocess.run([sys.executable, "-m", "labkit", "--runs-dir", str(tmp_path), "show", RUN_ID],
                           capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    lines = shown.stderr.strip().splitlines()
    assert shown.returncode == 2 and len(lines) == 1, shown.stderr
    assert lines[0].startswith(f"error: run='{RUN_ID}' is not valid: its result.json") and shown.stdout == ""
    listed = subprocess.run([sys.executable, "-m", "labkit", "--runs-dir", str(tmp_path), "runs"],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.split()[:2] == [RUN_ID, "unreadable:"], listed


# ---------------------------------------------------------------- any bytes as result.json


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def good_with(key: str, value: object) -> bytes:
    return json.dumps({**good_result(), key: value}).encode()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=10)
RESULT_BYTES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(good_with, st.sampled_from(sorted(good_result())), JSON),
    st.integers(1, 20_000).map(nested),
    st.just(json.dumps(good_result()).encode()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=RESULT_BYTES)
def test_any_bytes_as_result_json_are_read_or_refused_with_a_store_error(tmp_path_factory, data):
    run_dir = folder(tmp_path_factory.mktemp("runs"), data)
    try:
        result = run_dir.result()
    except StoreError as error:  # any other exception fails the test
        assert error.value == RUN_ID and "result.json" in error.valid
        return
    written = json.loads(data)  # read: so it was a JSON result, and is read as written
    assert isinstance(result, RunResult) and result.tasks_done <= CONFIG.tasks
    assert json.dumps(result.acc_taw) == json.dumps(written["acc_taw"]) and result.status == written["status"]
