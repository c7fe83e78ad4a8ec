"""Run folders damaged in every way a reader can meet: result.json rows that parse but do not fit,
files that are folders, run ids too long for a file name, a full disk, pid files that name
another process; and, with hypothesis, random JSON of right and wrong shapes in result.json,
config.json and events.jsonl. Every reader either answers or raises StoreError naming the run,
and nothing damaged is rewritten; a run id that names no folder is bad input (ConfigError)."""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.experiment import process
from labkit import RunConfig, RunDir, run
from labkit.app import background
from labkit.cli.main import main
from labkit.experiment import store
from labkit.experiment.result import RunResult
from labkit.errors import ConfigError, StoreError
from labkit.views import run_status

CONFIG = RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=1, batch_size=32, lr=0.05, device="cpu")
RUN_ID = "20260101-000000-finetune-digits-aaaaaa"


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    """One tiny finished run (2 tasks, 1 epoch), made once; tests damage copies of it."""
    runs = tmp_path_factory.mktemp("good")
    run_dir = RunDir.create(CONFIG.to_dict(), runs, run_id=RUN_ID)
    run(CONFIG, run_dir=run_dir)
    return run_dir.path


def copy_run(good_run: Path, runs_dir: Path, run_id: str = RUN_ID) -> RunDir:
    shutil.copytree(good_run, runs_dir / run_id)
    return RunDir(runs_dir / run_id)


def cli(runs_dir: Path, *argv: str) -> tuple[int, str, str]:
    """`python -m labkit --runs-dir RUNS ARGV` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--runs-dir", str(runs_dir), *argv])
    return code, out.getvalue(), err.getvalue()


def stored(run_dir: RunDir) -> dict:
    return json.loads((run_dir.path / "result.json").read_text())


# ---------------------------------------------------------------- 1. ragged result.json


def _set(**fields):
    return lambda d: d.update(fields)


STORE_LEVEL = {"more tasks than the config", "config empty", "config scenario a list"}  # RunDir.result's checks
RAGGED = {  # label -> (change to the good result, what the message names)
    "a row too long": (_set(acc_taw=[[.5, .5, .5], [.5, .5]]), "acc_taw[0]"),
    "one row after one task, of three": (_set(acc_taw=[[.5, .5, .5]], acc_tag=[[.5, .5, .5]]), "acc_taw[0]"),
    "rows of strings": (_set(acc_taw=[["a"], ["b", "c"]]), "acc_taw[0][0]"),
    "a row that is a number": (_set(acc_tag=[0.5, [0.5, 0.5]]), "acc_tag[0]"),
    "an accuracy over 1": (_set(acc_taw=[[0.5], [1.5, 0.5]]), "acc_taw[1][0]"),
    "an accuracy that is a bool": (_set(acc_tag=[[True], [0.5, 0.5]]), "acc_tag[0][0]"),
    "acc_tag shorter than acc_taw": (lambda d: d.update(acc_tag=d["acc_tag"][:1]), "acc_tag"),
    "more tasks than the config": (_set(acc_taw=[[.5], [.5, .5], [.5, .5, .5]], acc_tag=[[.5], [.5, .5], [.5, .5, .5]]),
                                   "completed tasks"),
    "epoch losses of strings": (_set(epoch_losses=[["x"], [1.0]]), "epoch_losses[0][0]"),
    "epoch losses not rows": (_set(epoch_losses=[1.0, 2.0]), "epoch_losses[0]"),
    "task seconds negative": (_set(task_seconds=[-1.0, 1.0]), "task_seconds[0]"),
    "task seconds a string": (_set(task_seconds="fast"), "task_seconds"),
    "too many task seconds": (_set(task_seconds=[1.0, 1.0, 1.0]), "task_seconds"),
    "head stats numbers": (_set(head_stats=[1, 2]), "head_stats[0]"),
    "head stats lacking a statistic": (lambda d: d["head_stats"][0].pop("logit_mean"), "head_stats[0]"),
    "knn accuracy a string": (_set(knn_acc=["high", 0.5]), "knn_acc[0]"),
    "val rows without val_tag": (_set(val_taw=[[0.5]], val_tag=[]), "val_taw"),
    "val row too long": (_set(val_taw=[[0.5, 0.5]], val_tag=[[0.5, 0.5]]), "val_taw[0]"),
    "curvature a string": (_set(curvature=["flat"]), "curvature[0]"),
    "run_id a number": (_set(run_id=5), "run_id"),
    "failure a string": (_set(status="failed", failure="boom"), "failure"),
    "config empty": (_set(config={}), "config"),
    "config scenario a list": (lambda d: d["config"].update(scenario=["class-il"]), "scenario"),
}


@pytest.mark.parametrize("label", RAGGED)
def test_a_ragged_result_is_named_by_every_reader_and_never_rewritten(good_run, tmp_path, label):
    change, names = RAGGED[label]
    first = copy_run(good_run, tmp_path, "20260101-000000-a")
    bad = copy_run(good_run, tmp_path, "20260101-000001-b")
    last = copy_run(good_run, tmp_path, "20260101-000002-c")
    damaged = stored(bad)
    change(damaged)
    text = json.dumps(damaged)
    (bad.path / "result.json").write_text(text)
    if label not in STORE_LEVEL:
        with pytest.raises(ValueError) as error:
            RunResult.from_dict(damaged)
        assert names in str(error.value)
    with pytest.raises(StoreError) as error:
        bad.result()
    assert error.value.field == "run" and error.value.value == bad.run_id
    assert "result.json" in str(error.value) and names in str(error.value)
    code, out, _ = cli(tmp_path, "runs")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert code == 0 and set(lines) == {first.run_id, bad.run_id, last.run_id}
    assert "unreadable" in lines[bad.run_id] and names in lines[bad.run_id]
    assert "finished" in lines[first.run_id] and "finished" in lines[last.run_id]
    states, problems = run_status.stored_states(tmp_path)
    assert [s.run_id for s in states] == [first.run_id, last.run_id] and list(problems) == [bad.run_id]
    code, out, err = cli(tmp_path, "show", bad.run_id)
    assert code == 2 and err.startswith("error: ") and bad.run_id in err and "Traceback" not in err
    code, _, err = cli(tmp_path, "run", "--resume", bad.run_id)
    assert code == 2 and bad.run_id in err
    assert (bad.path / "result.json").read_text() == text  # reported, never rewritten


def test_resume_refuses_a_result_that_disagrees_with_its_checkpoint(good_run, tmp_path):
    run_dir = copy_run(good_run, tmp_path)
    changed = stored(run_dir)
    changed["acc_taw"][1][0] = 0.123 if changed["acc_taw"][1][0] != 0.123 else 0.321  # still a valid result
    changed["status"] = "stopped"
    text = json.dumps(changed)
    (run_dir.path / "result.json").write_text(text)
    assert run_dir.result().tasks_done == 2  # readable: only the checkpoint can tell
    code, _, err = cli(tmp_path, "run", "--resume", run_dir.run_id)
    assert code == 2 and "resume=" in err and "disagrees with its checkpoint" in err and "acc_taw" in err
    assert (run_dir.path / "result.json").read_text() == text


def test_resume_refuses_a_checkpoint_holding_a_damaged_result(good_run, tmp_path):
    run_dir = copy_run(good_run, tmp_path)
    checkpoint = torch.load(run_dir.path / "checkpoint.pt", weights_only=True)
    checkpoint["result"]["acc_taw"] = [[0.5, 0.5], [0.5]]
    torch.save(checkpoint, run_dir.path / "checkpoint.pt")
    code, _, err = cli(tmp_path, "run", "--resume", run_dir.run_id)
    assert code == 2 and "resume=" in err and "checkpoint.pt holds no run's result" in err


def test_resume_refuses_a_result_with_more_tasks_than_its_checkpoint(good_run, tmp_path):
    run_dir = copy_run(good_run, tmp_path)
    checkpoint = torch.load(run_dir.path / "checkpoint.pt", weights_only=True)
    first = RunResult.from_dict(checkpoint["result"])
    for name in ("acc_taw", "acc_tag", "epoch_losses", "task_seconds", "knn_acc", "head_stats"):
        setattr(first, name, getattr(first, name)[:1])
    torch.save({**checkpoint, "task": 0, "result": first.to_dict()}, run_dir.path / "checkpoint.pt")
    code, _, err = cli(tmp_path, "run", "--resume", run_dir.run_id)
    assert code == 2 and "checkpoint holds 1 task(s) but result.json lists 2" in err


# ---------------------------------------------------------------- 2. files that are folders


def test_an_events_file_that_is_a_folder_is_reported_not_raised(good_run, tmp_path):
    run_dir = copy_run(good_run, tmp_path)
    (run_dir.path / "events.jsonl").unlink()
    (run_dir.path / "events.jsonl").mkdir()
    with pytest.raises(StoreError, match="events.jsonl cannot be read") as error:
        run_dir.events()
    assert error.value.value == run_dir.run_id
    with pytest.raises(StoreError, match="events.jsonl"):
        run_status.run_state(run_dir)
    states, problems = run_status.stored_states(tmp_path)
    assert not states and "events.jsonl" in problems[run_dir.run_id]
    code, _, err = cli(tmp_path, "run", "--resume", run_dir.run_id)
    assert code == 2 and "events.jsonl cannot be read" in err and "Traceback" not in err


def test_an_events_line_that_is_json_but_no_event_is_reported(good_run, tmp_path):
    run_dir = copy_run(good_run, tmp_path)
    (run_dir.path / "events.jsonl").write_text('{"type": "run_started"}\n[1, 2]\n')
    with pytest.raises(StoreError, match="events.jsonl line 2"):
        run_dir.events()
    (run_dir.path / "events.jsonl").write_bytes(b'{"type": "run_started"}\n\xff\xfe{half')
    assert run_dir.events() == [{"type": "run_started"}]  # a line cut while being written: skipped
    (run_dir.path / "events.jsonl").write_text('{"type": "run_started"}\n{"type": "epoch_ended", "task": 10, '
                                               '"epoch": 0, "loss": 1.0}\n')
    (run_dir.path / "result.json").unlink()
    with pytest.raises(StoreError, match="a task below 2"):  # never grows rows to a foreign task number
        run_status.run_state(run_dir)


def test_a_lock_that_is_a_folder_is_reported_not_raised(good_run, tmp_path):
    run_dir = copy_run(good_run, tmp_path)
    (run_dir.path / "lock").unlink()
    (run_dir.path / "lock").mkdir()
    with pytest.raises(StoreError, match="its lock cannot be read"):
        run_dir.is_being_written()
    with pytest.raises(StoreError, match="lock file cannot be opened"), run_dir.writing():
        pass
    result = stored(run_dir)
    result["status"] = "running"  # a run with no outcome: its lock is asked whether it goes on
    (run_dir.path / "result.json").write_text(json.dumps(result))
    states, problems = run_status.stored_states(tmp_path)
    assert not states and "lock" in problems[run_dir.run_id]
    code, _, err = cli(tmp_path, "run", "--resume", run_dir.run_id)
    assert code == 2 and "lock file cannot be opened" in err and "Traceback" not in err
    code, out, _ = cli(tmp_path, "runs")
    assert code == 0 and "unreadable" in out and "lock" in out


# ---------------------------------------------------------------- 3. names too long


def test_a_run_id_too_long_for_a_file_name_is_refused(tmp_path):
    assert store.is_run_id("x" * 255) and not store.is_run_id("x" * 256)
    assert not store.is_run_id("é" * 128)  # 256 bytes in UTF-8
    assert not store.is_run_id("\ud800")  # no file name at all
    code, _, err = cli(tmp_path, "show", "x" * 300)
    assert code == 2 and err.startswith("error: run_id=") and "255 bytes" in err
    code, _, err = cli(tmp_path, "run", "--resume", "x" * 300)
    assert code == 2 and "run_id=" in err


def test_a_lookup_that_fails_is_a_config_error(tmp_path, monkeypatch):
    def refuse(self):
        raise OSError(errno.ENAMETOOLONG, "File name too long")

    monkeypatch.setattr(Path, "is_file", refuse)
    with pytest.raises(ConfigError, match="File name too long") as error:
        RunDir.open("x" * 200, tmp_path)
    assert error.value.field == "run_id"


# ---------------------------------------------------------------- 4. a full disk


def test_write_json_atomic_removes_its_temporary_file_when_the_disk_is_full(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_text("{}")

    def full(self, text, *args, **kwargs):
        with open(self, "w") as f:
            f.write(text[:10])  # part of it written, then no room
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as error:
        store.write_json_atomic(target, {"a": list(range(100))})
    assert error.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"] and target.read_text() == "{}"


def test_save_checkpoint_removes_its_temporary_file_and_says_the_disk_is_full(tmp_path, monkeypatch):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)

    def full(state, f):  # as torch reports it: a RuntimeError raised while handling the OSError
        f.write(b"partial")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from None

    monkeypatch.setattr(store.torch, "save", full)
    with pytest.raises(StoreError, match=r"checkpoint.pt failed: the disk is full \(ENOSPC") as error:
        run_dir.save_checkpoint({"task": 0})
    assert error.value.field == "runs_dir"
    assert sorted(p.name for p in run_dir.path.iterdir()) == ["config.json"]


def failed_cleanly(run_dir: RunDir, code: int, err: str) -> None:
    """The run ended with one `error:` line naming ENOSPC, no traceback, no temporary file, and
    result.json says it failed."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "the disk is full (ENOSPC" in lines[0], err
    assert "Traceback" not in err and "During handling" not in err
    assert not [p.name for p in run_dir.path.iterdir() if p.name.endswith(".tmp")]
    result = run_dir.result()
    assert result.status == "failed" and "ENOSPC" in result.failure["message"]


def test_a_run_that_cannot_write_its_checkpoint_ends_with_one_error_line(tmp_path, monkeypatch):
    original, calls = store.torch.save, []

    def full_on_second_task(state, f):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(state, f)

    monkeypatch.setattr(store.torch, "save", full_on_second_task)
    code, _, err = cli(tmp_path, "run", "--dataset", "digits", "--tasks", "2", "--epochs", "1", "--device", "cpu")
    [run_dir] = [RunDir(p) for p in tmp_path.iterdir()]
    failed_cleanly(run_dir, code, err)
    assert run_dir.result().tasks_done == 1  # task 2 is not listed: its checkpoint was never written
    monkeypatch.setattr(store.torch, "save", original)  # space again: the resume its message offers works
    code, _, err = cli(tmp_path, "run", "--resume", run_dir.run_id)
    assert code == 0 and run_dir.result().status == "finished" and run_dir.result().tasks_done == 2, err


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MB tmpfs mounted at tmp_path/disk (skipped where mounting is not allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_run_on_a_full_disk_ends_with_one_error_line(good_run, small_disk):
    checkpoint = (good_run / "checkpoint.pt").stat().st_size
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / ".filler").write_bytes(b"\0" * (free - int(1.5 * checkpoint)))  # room for one checkpoint
    code, _, err = cli(small_disk, "run", "--dataset", "digits", "--tasks", "2", "--epochs", "1", "--device", "cpu")
    [run_dir] = [RunDir(p) for p in small_disk.iterdir() if p.is_dir()]
    failed_cleanly(run_dir, code, err)


# ---------------------------------------------------------------- 5. pid files that name another process


@pytest.fixture
def signals(monkeypatch):
    """Signals live would send (not 0, the existence probe), recorded instead of sent."""
    sent, kill = [], os.kill
    monkeypatch.setattr(background.os, "kill", lambda pid, sig: kill(pid, 0) if sig == 0 else sent.append((pid, sig)))
    monkeypatch.setattr(background.os, "killpg", lambda pid, sig: sent.append((pid, sig)))
    return sent


@pytest.fixture
def impostor():
    """A live process whose command line holds labkit.cli.worker, as a fork server's runs do."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "labkit.cli.worker"])
    yield process
    # by the kill command, not os.kill: `signals` may still have os.kill recording instead of sending
    subprocess.run(["kill", "-9", str(process.pid)], check=False)
    process.wait()


def running_run(tmp_path: Path) -> RunDir:
    """A run folder with no outcome stored and its process gone (no lock held)."""
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    run_dir.append_event({"type": "run_started", "device": "cpu"})
    return run_dir


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="start times come from /proc")
def test_a_pid_now_another_process_is_not_the_run_and_is_never_signalled(tmp_path, signals, impostor):
    run_dir = running_run(tmp_path)
    start = process.process_start_time(impostor.pid)
    assert isinstance(start, int) and process.process_start_time(os.getpid()) != start
    for text in (f"{impostor.pid} {start + 1}", f"{os.getpid()} {start}"):  # a pid since given to another
        (run_dir.path / process.PID_FILE).write_text(text)
        assert process.run_process(run_dir) is None
        assert run_status.run_state(run_dir).status not in run_status.ACTIVE
        assert background.stop_run(run_dir) is False
    (run_dir.path / process.PID_FILE).write_text(str(impostor.pid))  # an old bare pid: believed, never signalled
    assert run_status.run_state(run_dir).status == "running"
    assert background.stop_run(run_dir) is False
    assert signals == [] and impostor.poll() is None
    (run_dir.path / process.PID_FILE).write_text(f"{impostor.pid} {start}")  # the process that started then
    assert process.run_process(run_dir) == impostor.pid and run_status.run_state(run_dir).status == "running"
    assert background.stop_run(run_dir) is True and signals == [(impostor.pid, signal.SIGTERM)]


@pytest.mark.parametrize("text", ["0", "-1", "0 123", "-5 -", "x", "", "1 2 3", "99999999999999999999"])
def test_a_pid_file_naming_no_process_of_ours_signals_nothing(tmp_path, signals, text):
    run_dir = running_run(tmp_path)
    (run_dir.path / process.PID_FILE).write_text(text)
    assert process.run_process(run_dir) is None and background.stop_run(run_dir) is False and signals == []
    assert run_status.run_state(run_dir).status not in run_status.ACTIVE


# ---------------------------------------------------------------- 6. random JSON, every reader

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10 ** 20) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@st.composite
def changed(draw, good: dict) -> object:
    """`good` with a few of its fields (or an element of one) replaced by random JSON, or left
    out, or something else altogether: right and wrong shapes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    d = json.loads(json.dumps(good))
    for key in draw(st.lists(st.sampled_from(sorted(d)), min_size=1, max_size=3)):
        how = draw(st.sampled_from(["replace", "drop", "element", "row"]))
        if how == "drop":
            d.pop(key, None)
        elif how == "element" and isinstance(d.get(key), list) and d[key]:
            d[key][draw(st.integers(0, len(d[key]) - 1))] = draw(JSON)
        elif how == "row" and isinstance(d.get(key), list) and d[key] and isinstance(d[key][-1], list):
            d[key][-1] = d[key][-1] + [draw(JSON)] if draw(st.booleans()) else d[key][-1][:-1]
        else:
            d[key] = draw(JSON)
    return d


@pytest.fixture(scope="module")
def scratch(good_run, tmp_path_factory) -> Path:
    """A runs folder holding a copy of the good run, for the property tests to damage."""
    runs = tmp_path_factory.mktemp("scratch")
    shutil.copytree(good_run, runs / RUN_ID)
    return runs


def restore_run(good_run: Path, runs: Path) -> RunDir:
    shutil.rmtree(runs / RUN_ID, ignore_errors=True)
    shutil.copytree(good_run, runs / RUN_ID)
    return RunDir(runs / RUN_ID)


def names_the_run(call, run_id: str = RUN_ID) -> object:
    """call() returns, or raises StoreError naming the run; any other exception fails."""
    try:
        return call()
    except StoreError as error:
        assert run_id in str(error), str(error)
        return error


def every_reader_answers(runs: Path) -> None:
    run_dir = RunDir(runs / RUN_ID)
    names_the_run(run_dir.result)
    names_the_run(lambda: run_status.run_state(run_dir))
    states, problems = run_status.stored_states(runs)
    assert [s.run_id for s in states] + list(problems) == [RUN_ID]
    code, out, err = cli(runs, "runs")
    assert code == 0 and out.split()[0] == RUN_ID, err
    code, out, err = cli(runs, "show", RUN_ID)
    assert code in (0, 2, 3) and (code != 2 or (err.startswith("error: ") and RUN_ID in err)), err


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@PROPERTY
@given(data=st.data())
def test_any_result_json_is_read_or_named(good_run, scratch, data):
    run_dir = restore_run(good_run, scratch)
    written = data.draw(changed(stored(run_dir)))
    text = json.dumps(written, allow_nan=True)
    (run_dir.path / "result.json").write_text(text)
    every_reader_answers(scratch)
    assert (run_dir.path / "result.json").read_text() == text


@PROPERTY
@given(data=st.data())
def test_any_config_json_is_read_or_named(good_run, scratch, data):
    run_dir = restore_run(good_run, scratch)
    good = json.loads((run_dir.path / "config.json").read_text())
    (run_dir.path / "config.json").write_text(json.dumps(data.draw(changed(good)), allow_nan=True))
    if data.draw(st.booleans()):
        (run_dir.path / "result.json").unlink()
    every_reader_answers(scratch)


EVENT = st.fixed_dictionaries({"type": st.sampled_from(["run_started", "epoch_ended", "task_evaluated"])},
                              optional={"task": JSON | st.integers(-1, 3), "epoch": JSON | st.integers(-1, 2),
                                        "loss": JSON, "device": JSON})
LINE = st.one_of(EVENT.map(json.dumps), JSON.map(lambda v: json.dumps(v, allow_nan=True)), st.text(max_size=20),
                 st.binary(max_size=20))


@PROPERTY
@given(lines=st.lists(LINE, max_size=8), running=st.booleans())
def test_any_events_file_is_read_or_named(good_run, scratch, lines, running):
    run_dir = restore_run(good_run, scratch)
    data = b"".join((line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")) + b"\n"
                    for line in lines)
    (run_dir.path / "events.jsonl").write_bytes(data)
    if running:  # no outcome stored: the events say where training is
        (run_dir.path / "result.json").unlink()
    every_reader_answers(scratch)
    names_the_run(run_dir.events)
