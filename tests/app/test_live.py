"""labkit.app.background: runs started in the background, followed through their files, stopped."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from labkit.experiment import process
from labkit import RunConfig, RunDir, list_runs
from labkit.app import background
from labkit.app import panels
from labkit.errors import ConfigError, StoreError
from labkit.views import run_status

TINY = RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=1, device="cpu")


@pytest.fixture
def runs_dir(tmp_path):
    """A runs folder whose background processes are killed after the test, whatever happened."""
    yield tmp_path
    for run_dir in list_runs(tmp_path):
        pid = process.run_pid(run_dir)
        if pid is not None and process.run_process_alive(pid, run_dir.run_id):
            os.killpg(pid, signal.SIGKILL)


def follow(run_dir: RunDir, until, timeout: float = 90.0) -> run_status.RunState:
    """Poll run_state until `until(state)` holds (or the run ends); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        state = run_status.run_state(run_dir)
        if until(state) or not state.active:
            return state
        if time.monotonic() > deadline:
            log = (run_dir.path / process.LOG_FILE).read_text()
            pytest.fail(f"run still {state.status} after {timeout} s; log:\n{log}")
        time.sleep(0.1)


def test_available_datasets_name_why_a_dataset_is_not_offered(tmp_path):
    found = panels.available_datasets(tmp_path)
    assert found["digits"] is None
    assert "cifar10" in found["cifar10"] and str(tmp_path / "cifar-10-batches-py") in found["cifar10"]
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        (folder / name).write_bytes(b"")  # only presence is checked: nothing is loaded
    assert panels.available_datasets(tmp_path)["cifar100"] is None


def test_method_choices_give_the_reason_a_loss_is_refused():
    grid = panels.method_choices()
    assert grid["finetune"]["ce"] is None and grid["lwf"]["ce"] is None
    assert "ce" in grid["lwf"]["mse"]  # LwF distils softmax outputs: ce only
    assert grid["ewc"]["mse"] is None


def test_bad_input_is_refused_before_anything_is_stored(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match="tasks=0"):
        background.start_background_run(TINY.replace(tasks=0), runs)
    with pytest.raises(ConfigError, match="no cifar10 files"):
        background.start_background_run(TINY.replace(dataset="cifar10", data_root=str(tmp_path)), runs)
    assert not runs.exists() or not any(runs.iterdir())


def test_a_background_run_is_followed_to_its_end(runs_dir):
    run_dir = background.start_background_run(TINY.replace(method="lwf"), runs_dir)
    pid, start = (int(word) for word in (run_dir.path / "pid").read_text().split())  # pid and start time
    assert pid != os.getpid()  # the run goes on in a process of its own
    assert start == process.process_start_time(pid) and process.run_process(run_dir) == pid
    first = run_status.run_state(run_dir)
    assert first.status in ("starting", "running") and first.result.tasks_done == 0
    state = follow(run_dir, lambda s: False)
    assert state.status == "finished", state.error
    assert state.device == "cpu" and state.progress == 1.0 and state.result.tasks_done == 2
    stored = run_dir.result()
    assert state.result.acc_tag == stored.acc_tag and state.result.acc_taw == stored.acc_taw
    assert state.result.epoch_losses == stored.epoch_losses
    assert RunConfig.from_dict(run_dir.config()) == TINY.replace(method="lwf")
    assert set(panels.figures(state, "tag")) == {"forgetting", "averages", "matrix", "loss"}
    table = panels.final_metrics([state])
    assert table.loc[0, "status"] == "finished" and table.loc[0, "tasks done"] == "2/2"
    assert not background.stop_run(run_dir)  # nothing left to stop


def test_stop_ends_a_run_and_keeps_its_completed_tasks(runs_dir):
    # 10 short tasks: the first ends soon even on a busy machine, the rest take long enough to stop
    run_dir = background.start_background_run(TINY.replace(tasks=10, epochs=30), runs_dir)
    state = follow(run_dir, lambda s: s.result.tasks_done >= 1)
    assert state.active, f"the run ended before it could be stopped: {state.status}"
    assert background.stop_run(run_dir)
    state = follow(run_dir, lambda s: False)
    assert state.status == "stopped" and state.error is None
    done = run_dir.result().tasks_done
    assert 1 <= done < 10 and state.result.tasks_done == done
    assert run_dir.events()[-1]["type"] == "run_failed"
    assert [r.run_id for r in list_runs(runs_dir)] == [run_dir.run_id]  # the stored run is not lost
    assert (run_dir.path / "checkpoint.pt").is_file()  # so `run --resume` can continue it


def test_a_process_that_ends_without_a_final_event_is_reported_with_its_log(tmp_path):
    run_dir = RunDir.create(TINY.to_dict(), tmp_path)
    assert run_status.run_state(run_dir).status == "incomplete"  # no process of ours follows it
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (run_dir.path / process.PID_FILE).write_text(str(gone.pid))
    (run_dir.path / process.LOG_FILE).write_text("progress\rerror: data_root='x' is not valid: no files\n")
    state = run_status.run_state(run_dir)
    assert state.status == "failed" and state.error == "error: data_root='x' is not valid: no files"


def test_an_unreadable_run_folder_raises_a_store_error_and_is_skipped(tmp_path):
    good = RunDir.create(TINY.to_dict(), tmp_path)
    bad = RunDir.create(TINY.to_dict(), tmp_path)
    (bad.path / "config.json").write_text("{not json")
    with pytest.raises(StoreError, match="cannot be read"):
        run_status.run_state(bad)
    states, problems = run_status.stored_states(tmp_path)
    assert [s.run_id for s in states] == [good.run_id] and list(problems) == [bad.run_id]
    assert (bad.path / "config.json").read_text() == "{not json"  # left as it was




def test_dlcft_runs_in_the_background_from_a_pretrained_backbone(runs_dir, tmp_path):
    """What the app's Run does for DLCFT with its recipe: pre-train (cached under the data root),
    linearise, train, in a process of its own."""
    config = TINY.replace(method="dlcft", loss="mse", optimizer="adam", lr=1e-3, pretrained="auto",
                          data_root=str(tmp_path / "data"))
    run_dir = background.start_background_run(config, runs_dir)
    state = follow(run_dir, lambda s: False, timeout=180.0)
    assert state.status == "finished", state.error
    assert state.result.tasks_done == 2 and len(run_dir.result().knn_acc) == 2
    assert list((tmp_path / "data" / "checkpoints").glob("digits-mlp-*.pt"))
