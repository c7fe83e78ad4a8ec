"""Runs in the background: started in a process of their own, and stopped.

    run_dir = start_background_run(RunConfig(method="lwf"), "data/runs")  # returns at once
    stop_run(run_dir)                 # SIGTERM: the completed tasks stay stored

Where such a run stands is labkit.views.run_status's (it reads the folder, and asks here whether the
process lives); what the app draws of it, labkit.app.panels'.

A background run starts the run stored in a freshly made run folder (labkit.cli.worker's
start_stored_run; with no checkpoint yet it starts at task 1), in a process and session of its own,
writing its output to log.txt and its process id and start time to pid in the run folder (so
a pid reused by another process is never taken for the run, nor stopped). The process is
forked by a fork server that has already imported torch, scikit-learn and labkit
(labkit/cli/worker.py), so a run starts in a fraction of a second instead of paying seconds of
imports, and a crash or a Stop still leaves the app untouched. The page follows it only
through the run folder's files, so any number of browser sessions can follow any number of
runs without mixing them, and a page refresh never re-runs an experiment.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

from labkit.app.fork_server import start_fork_server
from labkit.config import RunConfig
from labkit.data.datasets import missing_files
from labkit.experiment.process import LOG_FILE, PID_FILE, STOP_FILE, process_start_time, run_process, start_time_text
from labkit.experiment.store import RunDir
from labkit.errors import ConfigError, StoreError

# The fork server that background runs are forked from, shared by every session of one
# Streamlit server; the lock keeps one request and its reply together.
_server: subprocess.Popen | None = None
_server_lock = threading.Lock()


def warm_up(server: subprocess.Popen | None = None) -> subprocess.Popen:
    """Start the fork server if it is not running (it imports torch and labkit in the
    background), so the first Run does not wait for the imports; return it. `server`: one
    already started (labkit.app.launcher starts it before its own imports), used from now on."""
    global _server
    with _server_lock:
        if server is not None:
            _server = server
        elif _server is None or _server.poll() is not None:
            _server = start_fork_server()
        return _server


# ---------------------------------------------------------------- starting and stopping


def start_background_run(config: RunConfig, runs_dir: str | Path) -> RunDir:
    """Validate `config`, make its run folder and start the run there in a separate process;
    return at once. Bad input raises ConfigError before anything is stored or started; a pid file
    that cannot be written (a full disk) raises StoreError naming the run and its process, which
    goes on (the page cannot follow or stop it: `kill PID` does)."""
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
    pid = int(reply)
    try:
        (run_dir.path / PID_FILE).write_text(f"{pid} {start_time_text(process_start_time(pid))}")
    except OSError as error:
        raise StoreError("run", run_dir.run_id, f"its {PID_FILE} file cannot be written ({type(error).__name__}: "
                         f"{error.strerror or error}), so the page cannot follow or stop it; its process "
                         f"{pid} was started: `kill {pid}` stops it") from None
    return run_dir


def stop_run(run_dir: RunDir) -> bool:
    """Ask a background run to stop (SIGTERM to its process group). The runner records a
    run_failed event and keeps the tasks completed so far. False when it was not running; a
    process that cannot be told to be this run's (run_process) is never signalled. A stop file
    that cannot be written (a full disk) does not keep the run from being stopped: it only tells
    a run killed before it recorded "stopped" from one that failed."""
    pid = run_process(run_dir, to_signal=True)
    if pid is None:
        return False
    with contextlib.suppress(OSError):
        (run_dir.path / STOP_FILE).touch()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:  # not yet in its own session
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    return True
