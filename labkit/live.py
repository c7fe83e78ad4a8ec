"""Runs in the background: started in a process of their own, and stopped.

    run_dir = start_background_run(RunConfig(method="lwf"), "data/runs")  # returns at once
    stop_run(run_dir)                 # SIGTERM: the completed tasks stay stored

Where such a run stands is labkit.run_status's (it reads the folder, and asks here whether the
process lives); what the app draws of it, labkit.app_views'.

A background run is the command line's `--runs-dir RUNS run --resume RUN_ID` on a freshly made
run folder (no checkpoint yet, so it starts at task 1), in a process and session of its own,
writing its output to log.txt and its process id and start time to pid in the run folder (so
a pid reused by another process is never taken for the run, nor stopped). The process is
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
from pathlib import Path


from labkit import app_server
from labkit.config import RunConfig
from labkit.data.datasets import missing_files
from labkit.registry import ConfigError
from labkit.store import RunDir

PID_FILE, LOG_FILE, STOP_FILE = "pid", "log.txt", "stop_requested"

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
    pid = int(reply)
    (run_dir.path / PID_FILE).write_text(f"{pid} {start_time_text(process_start_time(pid))}")
    return run_dir


def stop_run(run_dir: RunDir) -> bool:
    """Ask a background run to stop (SIGTERM to its process group). The runner records a
    run_failed event and keeps the tasks completed so far. False when it was not running; a
    process that cannot be told to be this run's (run_process) is never signalled."""
    pid = run_process(run_dir, to_signal=True)
    if pid is None:
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


# ---------------------------------------------------------------- which process is the run
#
# The pid file holds "PID START": the process id the fork server replied and the process's start
# time (field 22 of /proc/PID/stat, clock ticks after boot; "-" where there is no /proc), so a pid
# the system has since given to another process (another run's, even) is never taken for the
# run. A pid file of older labkits holds the bare PID.

NO_PROC = "-"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (fields 3... : state first), or None
    when there is no such process or no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start_time(pid: int) -> int | None:
    """When process `pid` started (field 22 of /proc/PID/stat, clock ticks after boot); None
    when /proc cannot tell (no such process, not Linux)."""
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def start_time_text(start: int | None) -> str:
    return NO_PROC if start is None else str(start)


def read_pid_file(run_dir: RunDir) -> tuple[int, int | None, bool] | None:
    """(pid, start time, recorded) from the run's pid file: recorded is False for a bare pid
    (a file of older labkits), start time None when it was not known ("-", no /proc). None
    when there is no pid file or it holds no positive process id."""
    try:
        words = (run_dir.path / PID_FILE).read_text().split()
        pid = int(words[0])
        start = None if len(words) < 2 or words[1] == NO_PROC else int(words[1])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None
    if not 0 < pid < 2 ** 31 or len(words) > 2:
        return None
    return pid, start, len(words) == 2


def run_pid(run_dir: RunDir) -> int | None:
    """The process id in the run's pid file (whether or not that process is still the run)."""
    record = read_pid_file(run_dir)
    return record[0] if record else None


def run_process(run_dir: RunDir, to_signal: bool = False) -> int | None:
    """The pid of the process running `run_dir` now, or None. A pid file with a start time
    names the process only while the pid has that same start time; a bare pid (older labkits)
    is believed as before (run_process_alive), but with `to_signal` only when the process's
    command line holds the run id."""
    record = read_pid_file(run_dir)
    if record is None:
        return None
    pid, start, recorded = record
    if recorded:
        return pid if run_process_alive(pid, run_dir.run_id, start) else None
    if not to_signal:
        return pid if run_process_alive(pid, run_dir.run_id) else None
    try:
        named = os.fsencode(run_dir.run_id) in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if named and run_process_alive(pid, run_dir.run_id) else None


def run_process_alive(pid: int, run_id: str, start_time: int | None = None) -> bool:
    """Whether process `pid` is still the run `run_id` (and not a zombie or a reused pid). With
    `start_time` (from the pid file): the process with that pid must have started then. Without
    it: its command line must hold the run id or the fork server's module (labkit.live_worker).
    Where there is no /proc, whether the process exists is all that can be told."""
    if not 0 < pid < 2 ** 31:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _proc_stat(pid)
    if fields is None:
        return not Path("/proc/self/stat").exists()  # no /proc (not Linux): trust the signal test
    if fields[0] == "Z":
        return False
    if start_time is not None:
        return process_start_time(pid) == start_time
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return os.fsencode(run_id) in cmdline or b"labkit.live_worker" in cmdline


