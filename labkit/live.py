"""Runs in the background, followed live: what the Streamlit app needs besides its widgets.

    run_dir = start_background_run(RunConfig(method="lwf"), "data/runs")  # returns at once
    state = run_state(run_dir)        # call again and again: status, progress, result so far
    figures(state, "tag")             # the charts of the run so far
    stop_run(run_dir)                 # SIGTERM: the completed tasks stay stored

A background run is the command line's `--runs-dir RUNS run --resume RUN_ID` on a freshly made
run folder (no checkpoint yet, so it starts at task 1), in a process and session of its own,
writing its output to log.txt and its process id to pid in the run folder. The process is
forked by a fork server that has already imported torch, scikit-learn and labkit
(live_worker.py), so a run starts in a fraction of a second instead of paying seconds of
imports, and a crash or a Stop still leaves the app untouched. The page follows it only
through the run folder's files, so any number of browser sessions can follow any number of
runs without mixing them, and a page refresh never re-runs an experiment.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from labkit import app_server, plots
from labkit.config import RunConfig
from labkit.data.datasets import DATASETS, missing_files
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.registry import ConfigError
from labkit.result import RunResult
from labkit.runner import natural_kind
from labkit.store import RunDir, list_runs

PID_FILE, LOG_FILE, STOP_FILE = "pid", "log.txt", "stop_requested"
ACTIVE = ("starting", "running")

# The fork server that background runs are forked from, shared by every session of one
# Streamlit server; the lock keeps one request and its reply together.
_server: subprocess.Popen | None = None
_server_lock = threading.Lock()


def warm_up(server: subprocess.Popen | None = None) -> subprocess.Popen:
    """Start the fork server if it is not running (it imports torch and labkit in the
    background), so the first Run does not wait for the imports; return it. `server`: one
    already started (labkit.app_server starts it before its own imports), used from now on."""
    global _server
    with _server_lock:
        if server is not None:
            _server = server
        elif _server is None or _server.poll() is not None:
            _server = app_server.start_fork_server()
        return _server


# ---------------------------------------------------------------- choices for the widgets


def available_datasets(data_root: str | Path = "data") -> dict[str, str | None]:
    """Every registered dataset -> None when its files are found (or it needs none), else why
    not. Looks for files only: nothing is loaded or downloaded."""
    return {name: missing_files(name, data_root) for name in DATASETS}


def method_choices() -> dict[str, dict[str, str | None]]:
    """method -> loss -> None when the method can train with that loss, else the reason it
    cannot (Method.loss_problem): the method x loss grid the app offers."""
    return {m: {loss: METHODS.get(m).loss_problem(loss) for loss in LOSSES} for m in METHODS}


# ---------------------------------------------------------------- starting and stopping


def start_background_run(config: RunConfig, runs_dir: str | Path) -> RunDir:
    """Validate `config`, make its run folder and start the run there in a separate process;
    return at once. Bad input raises ConfigError before anything is stored or started."""
    config.validate()
    problem = missing_files(config.dataset, config.data_root)
    if problem:
        raise ConfigError("dataset", config.dataset, problem)
    runs_dir = Path(runs_dir).absolute()
    run_dir = RunDir.create(config.to_dict(), runs_dir)
    server = warm_up()
    with _server_lock:
        server.stdin.write(f"{runs_dir}\t{run_dir.run_id}\t{run_dir.path / LOG_FILE}\n")
        server.stdin.flush()
        reply = server.stdout.readline()
    if not reply.strip().isdigit():
        raise RuntimeError(f"the fork server did not start run {run_dir.run_id} (it said {reply!r}); "
                           f"`python -m labkit --runs-dir {runs_dir} run --resume {run_dir.run_id}` starts it by hand")
    (run_dir.path / PID_FILE).write_text(reply.strip())
    return run_dir


def stop_run(run_dir: RunDir) -> bool:
    """Ask a background run to stop (SIGTERM to its process group). The runner records a
    run_failed event and keeps the tasks completed so far. False when it was not running."""
    pid = _pid(run_dir)
    if pid is None or not run_state(run_dir).active:
        return False
    (run_dir.path / STOP_FILE).touch()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:  # not yet in its own session
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    return True


def _pid(run_dir: RunDir) -> int | None:
    try:
        return int((run_dir.path / PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int, run_id: str) -> bool:
    """Whether process `pid` is still the run `run_id` (and not a zombie or a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return state != "Z" and (run_id.encode() in cmdline or b"labkit.live_worker" in cmdline)
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust the signal test


# ---------------------------------------------------------------- following a run


@dataclass
class RunState:
    """What a page shows of a run: its status, its result so far and where training is.

    status: "starting" (process up, data not loaded yet), "running", and then the outcome
    stored in result.json: "finished", "stopped", "diverged" or "failed" (error says why); or
    "incomplete": it ended without recording an outcome and no process of this machine follows
    it (killed, or running elsewhere; `run --resume` continues it)."""

    run_id: str
    config: dict
    status: str
    result: RunResult
    device: str | None = None
    task: int | None = None  # the task being trained (0-based), from the last epoch event
    epoch: int = 0           # epochs of that task done
    error: str | None = None
    details: str | None = None  # a failed run's traceback, when one was stored

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def num_tasks(self) -> int:
        return int(self.config["tasks"])

    @property
    def epochs(self) -> int:
        return int(self.config["epochs"])

    @property
    def progress(self) -> float:
        """Fraction of all epochs of the run done."""
        if self.status == "finished":
            return 1.0
        done = self.result.tasks_done * self.epochs
        if self.task is not None and self.task >= self.result.tasks_done:
            done += self.epoch
        return min(done / (self.num_tasks * self.epochs), 1.0)

    def progress_text(self) -> str:
        if self.status == "finished":
            return f"finished: {self.num_tasks} tasks learned"
        if self.status == "starting":
            return "starting: loading libraries and data"
        if self.status == "diverged":
            return f"diverged: {self.error}"
        if self.task is None or self.task < self.result.tasks_done:
            task, epoch = self.result.tasks_done, 0
        else:
            task, epoch = self.task, self.epoch
        where = f"task {min(task + 1, self.num_tasks)} of {self.num_tasks}, epoch {epoch} of {self.epochs} done"
        return where if self.active else f"{self.status} at {where}"


def run_state(run_dir: RunDir) -> RunState:
    """The state of a run from its folder (any run: started here, from the command line, or
    long finished). Completed tasks and the outcome come from result.json alone (labkit.store);
    events.jsonl adds only where training is now: the epoch losses of the task being learned
    and the device. An unreadable folder raises ConfigError saying which file and why."""
    config = run_dir.config()
    stored = run_dir.result()
    events = run_dir.events()
    result = stored or RunResult(config=config, run_id=run_dir.run_id)
    started = [i for i, e in enumerate(events) if e.get("type") == "run_started"]
    current = events[started[-1]:] if started else []
    state = RunState(run_dir.run_id, config, result.status, result,
                     device=current[0].get("device") if current else stored.device if stored else None)
    try:
        for event in current:
            if event.get("type") == "epoch_ended":
                state.task, state.epoch = int(event["task"]), int(event["epoch"]) + 1
                if state.task >= result.tasks_done and result.status == "running":  # the task being learned
                    while len(result.epoch_losses) <= state.task:
                        result.epoch_losses.append([])
                    del result.epoch_losses[state.task][event["epoch"]:]
                    result.epoch_losses[state.task].append(event["loss"])
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError("run", run_dir.run_id, f"its events.jsonl holds an event labkit did not write ({error!r})")
    if result.status in ("diverged", "failed"):
        failure = result.failure or {}
        state.error, state.details = failure.get("message", "no reason was stored"), failure.get("traceback")
    elif result.status == "running":
        _check_process(run_dir, state, has_started=bool(started))
    return state


def _check_process(run_dir: RunDir, state: RunState, has_started: bool) -> None:
    """A run with no outcome stored: still going, or ended without one (refused, killed)?"""
    pid = _pid(run_dir)
    resume = f"`python -m labkit run --resume {run_dir.run_id}` continues it after its last completed task"
    if run_dir.is_being_written() or (pid is not None and _alive(pid, run_dir.run_id)):
        state.status = "running" if has_started else "starting"
    elif pid is None:
        state.status = "incomplete"
        state.error = f"it ended without recording how, and no process follows it here; {resume}"
    elif (run_dir.path / STOP_FILE).exists():
        state.status = "stopped"
    else:
        state.status = "failed"
        state.error = _log_tail(run_dir) or f"the run's process ended without recording how (killed?); {resume}"


def _log_tail(run_dir: RunDir, lines: int = 20) -> str:
    """The last lines of the run's log, without progress-bar redraws."""
    try:
        with open(run_dir.path / LOG_FILE, errors="replace", newline="") as log:  # keep "\r" as it is
            text = log.read()
    except OSError:
        return ""
    kept = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    kept = [line for line in kept if line.strip()]
    return "\n".join(kept[-lines:])


# ---------------------------------------------------------------- charts and tables


def _percent_axes(fig: go.Figure, num_tasks: int | None = None) -> go.Figure:
    """0-100 % on y, and (given num_tasks) every task of the run on x from the first point on,
    so a growing curve shows how far the run still has to go."""
    fig.update_yaxes(range=[-2, 102])
    if num_tasks:
        fig.update_xaxes(range=[0.7, num_tasks + 0.3])
    return fig


def averages_figure(result: RunResult, kind: str) -> go.Figure:
    """Average accuracy A_t and average forgetting F_t (percent) against tasks learned."""
    fig = plots.metric_curves({"average accuracy": result}, "average_accuracy", kind)
    fig.add_traces(plots.metric_curves({"average forgetting": result}, "average_forgetting", kind).data)
    fig.update_layout(title=f"Average accuracy and forgetting ({plots.KINDS[kind]})", yaxis_title="%")
    return fig


def figures(state: RunState, kind: str) -> dict[str, go.Figure]:
    """The live charts of a run: forgetting curves, averages, accuracy matrix, training loss."""
    result = state.result
    forgetting = plots.forgetting_curves(result, kind)
    forgetting.update_layout(title=f"Accuracy on each task as later tasks are learned<br>"
                                   f"<sup>{plots.KINDS[kind]}</sup>")  # two lines: fits half a page
    return {"forgetting": _percent_axes(forgetting, state.num_tasks),
            "averages": _percent_axes(averages_figure(result, kind), state.num_tasks),
            "matrix": plots.accuracy_heatmap(result, kind), "loss": plots.training_loss(result)}


def compare_figures(states: list[RunState] | dict[str, RunState], kind: str) -> dict[str, go.Figure]:
    """Average accuracy and average forgetting of several runs, overlaid, one colour each: labelled
    by run_label, or by the dict's keys (a race's runners, on x every task of the run)."""
    named = states if isinstance(states, dict) else {run_label(s): s for s in states}
    tasks = max((s.num_tasks for s in named.values()), default=None) if isinstance(states, dict) else None
    results = {label: s.result for label, s in named.items()}
    return {metric: _percent_axes(plots.metric_curves(results, metric, kind), tasks)
            for metric in ("average_accuracy", "average_forgetting")}


def stored_states(runs_dir: str | Path) -> tuple[list[RunState], dict[str, str]]:
    """Every stored run's state, oldest first, and run id -> error for folders that cannot be
    read (they are reported and skipped, never changed)."""
    states, problems = [], {}
    for run_dir in list_runs(runs_dir):
        try:
            states.append(run_state(run_dir))
        except ConfigError as error:
            problems[run_dir.run_id] = str(error)
    return states, problems


def run_label(state: RunState) -> str:
    c = state.config
    ended = "" if state.status in ("finished", *ACTIVE) else f", {state.status}"  # a diverged curve says so
    return f"{c.get('method')} + {c.get('loss')}, {c.get('dataset')} {c.get('scenario')} [{state.run_id[-6:]}]{ended}"


def final_metrics(states: list[RunState], kind: str | None = None) -> pd.DataFrame:
    """One row per run: its settings and final metrics in percent. kind None: each run's
    natural kind (task-aware for task-IL, task-agnostic otherwise)."""
    rows = []
    for s in states:
        c, k = s.config, kind or natural_kind(s.config.get("scenario", ""))
        summary = s.result.summary(k)
        rows.append({  # what tells runs apart and their results first; the rest after
            "method": c.get("method"), "loss": c.get("loss"), "scenario": c.get("scenario"),
            "tasks done": f"{s.result.tasks_done}/{s.num_tasks}", "status": s.status,
            "final avg accuracy %": _pct(summary["final_average_accuracy"]),
            "final avg forgetting %": _pct(summary["final_average_forgetting"]),
            "backward transfer %": _pct(summary["backward_transfer"]),
            "accuracy kind": plots.KINDS[k], "dataset": c.get("dataset"), "backbone": c.get("backbone"),
            "epochs": c.get("epochs"), "seed": c.get("seed"), "seconds": round(sum(s.result.task_seconds), 2),
            "run": s.run_id,
        })
    return pd.DataFrame(rows)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)
