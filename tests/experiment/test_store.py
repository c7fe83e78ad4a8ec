"""The run store under damage: corrupt files beside good runs, a process killed at each stage of
a task's write, resume checks, one writer per folder, run ids that stay in the runs folder, and a
crashed background run that says why."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from helpers import QUICK

from labkit.experiment import process
from labkit import RunConfig, RunDir, list_runs, run
from labkit.app import panels
from labkit.cli.main import main
from labkit.errors import StoreError
from labkit.views import run_status

CONFIG = QUICK.replace(tasks=3, epochs=1)


def listed(runs_dir, capsys) -> dict[str, str]:
    """run id -> its line in `python -m labkit runs`."""
    capsys.readouterr()
    assert main(["--runs-dir", str(runs_dir), "runs"]) == 0
    return {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}


DAMAGE = {
    "result.json garbage": ("result.json", "\x00\x01 not json"),
    "result.json a list": ("result.json", "[1, 2, 3]"),
    "result.json wrong keys": ("result.json", json.dumps({"config": {}, "accuracy": 1})),
    "result.json bad status": ("result.json", json.dumps({"config": {}, "status": "great"})),
    "config.json garbage": ("config.json", "{not json"),
    "config.json a number": ("config.json", "42"),
    "config.json no tasks": ("config.json", json.dumps({"method": "lwf"})),
    "config.json missing": ("config.json", None),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_one_damaged_run_is_named_and_never_hides_the_others(tmp_path, capsys, damage):
    first = RunDir.create(CONFIG.replace(tasks=1).to_dict(), tmp_path)
    run(CONFIG.replace(tasks=1), run_dir=first)
    bad = RunDir.create(CONFIG.to_dict(), tmp_path)
    last = RunDir.create(CONFIG.to_dict(), tmp_path)
    name, text = DAMAGE[damage]
    if text is None:
        (bad.path / name).unlink()
    else:
        (bad.path / name).write_text(text)
    lines = listed(tmp_path, capsys)
    assert set(lines) == {first.run_id, bad.run_id, last.run_id}
    assert "unreadable" in lines[bad.run_id] and name in lines[bad.run_id]
    assert "finished" in lines[first.run_id] and "0/3 tasks" in lines[last.run_id]
    states, problems = run_status.stored_states(tmp_path)
    assert {s.run_id for s in states} == {first.run_id, last.run_id} and list(problems) == [bad.run_id]
    assert main(["--runs-dir", str(tmp_path), "show", bad.run_id]) == 2
    assert bad.run_id in capsys.readouterr().err
    if text is not None:
        assert (bad.path / name).read_text() == text  # reported, never rewritten


def test_a_garbage_events_line_is_skipped_and_a_foreign_event_is_reported(tmp_path):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    (run_dir.path / "events.jsonl").write_text('{"type": "run_started", "device": "cpu", "start_task": 0}\n{half')
    assert run_status.run_state(run_dir).result.tasks_done == 0
    (run_dir.path / "events.jsonl").write_text('{"type": "run_started"}\n{"type": "epoch_ended", "task": "x"}\n')
    with pytest.raises(StoreError, match="events.jsonl"):
        run_status.run_state(run_dir)


KILL = textwrap.dedent("""
    import os, sys
    from labkit import RunConfig, RunDir, run
    from labkit.experiment.store import RunDir as Store
    stage, path = sys.argv[1], sys.argv[2]
    original = {"checkpoint": Store.save_checkpoint, "result": Store.write_result, "event": Store.append_event}
    def killer(name):
        def call(self, *args):
            original[name](self, *args)
            done = {"checkpoint": lambda: args[0]["task"] == 1,
                    "result": lambda: args[0].tasks_done == 2,
                    "event": lambda: args[0].get("type") == "task_evaluated" and args[0]["task"] == 1}[name]()
            if name == stage and done:
                os._exit(9)  # as kill -9: no handler, no final event, nothing flushed after this
        return call
    setattr(Store, {"checkpoint": "save_checkpoint", "result": "write_result", "event": "append_event"}[stage],
            killer(stage))
    run_dir = RunDir(path)
    run(RunConfig.from_dict(run_dir.config()), run_dir=run_dir)
""")


@pytest.mark.parametrize("stage", ["checkpoint", "result", "event"])
def test_killed_at_each_stage_of_a_task_write_every_view_agrees_and_resume_finishes(tmp_path, capsys, stage):
    reference = run(CONFIG)
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    killed = subprocess.run([sys.executable, "-c", KILL, stage, str(run_dir.path)], capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == 9, killed.stderr
    done = run_dir.result().tasks_done  # the one source of truth
    assert done == (1 if stage == "checkpoint" else 2)  # result.json comes after the checkpoint
    state = run_status.run_state(run_dir)
    assert state.status == "incomplete" and state.result.tasks_done == done
    assert state.result.acc_tag == reference.acc_tag[:done]
    states, problems = run_status.stored_states(tmp_path)
    assert not problems and states[0].result.tasks_done == done
    assert panels.final_metrics(states).loc[0, "tasks done"] == f"{done}/3"
    panels.compare_figures(states, "tag")  # the Compare tab draws
    assert f"{done}/3 tasks" in listed(tmp_path, capsys)[run_dir.run_id]
    assert main(["--runs-dir", str(tmp_path), "run", "--resume", run_dir.run_id]) == 0
    resumed = run_dir.result()
    assert resumed.status == "finished"
    assert resumed.acc_taw == reference.acc_taw and resumed.acc_tag == reference.acc_tag
    assert run_status.run_state(run_dir).status == "finished"


def test_resume_refuses_a_run_whose_checkpoint_is_missing_unreadable_or_foreign(tmp_path):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    run(CONFIG.replace(tasks=3), run_dir=run_dir)
    checkpoint = run_dir.path / "checkpoint.pt"
    saved = checkpoint.read_bytes()
    config = RunConfig.from_dict(run_dir.config())
    checkpoint.unlink()
    with pytest.raises(StoreError, match="checkpoint.pt is missing"):
        run(config, run_dir=run_dir)
    checkpoint.write_bytes(saved[: len(saved) // 2])
    with pytest.raises(StoreError, match="checkpoint.pt cannot be read"):
        run(config, run_dir=run_dir)
    checkpoint.write_bytes(saved)
    with pytest.raises(StoreError, match="another config"):
        run(config.replace(lr=0.01), run_dir=run_dir)
    assert run_dir.result().status == "finished" and run_dir.result().tasks_done == 3  # nothing lost


def test_a_run_folder_has_one_writer(tmp_path):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    assert not run_dir.is_being_written()
    with run_dir.writing():
        assert run_dir.is_being_written()
        with pytest.raises(StoreError, match="another process is writing"):
            run(CONFIG, run_dir=run_dir)
        state = run_status.run_state(run_dir)
        assert state.status == "starting"  # going, with no event yet
    assert not run_dir.is_being_written() and run_dir.result() is None


@pytest.mark.parametrize("run_id", ["..", "../x", ".", ".hidden", "a/b", "/etc", ""])
def test_run_ids_stay_inside_the_runs_folder(tmp_path, capsys, run_id):
    assert main(["--runs-dir", str(tmp_path / "runs"), "show", run_id]) == 2
    assert "run_id" in capsys.readouterr().err
    assert main(["--runs-dir", str(tmp_path / "runs"), "run", "--resume", run_id]) == 2


def test_a_crashed_background_run_says_why_in_its_log_and_on_the_page(tmp_path, monkeypatch):
    from labkit.cli import worker

    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    log = run_dir.path / process.LOG_FILE

    def crash(argv):
        raise RuntimeError("a crash outside any handler")

    monkeypatch.setattr(worker, "main", crash)
    pid = os.fork()
    if pid == 0:
        worker.run_child(str(tmp_path), run_dir.run_id, str(log))  # never returns
    os.waitpid(pid, 0)
    (run_dir.path / process.PID_FILE).write_text(str(pid))
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: a crash outside any handler" in text
    state = run_status.run_state(run_dir)
    assert state.status == "failed" and "RuntimeError: a crash outside any handler" in state.error
    assert [r.run_id for r in list_runs(tmp_path)] == [run_dir.run_id]
