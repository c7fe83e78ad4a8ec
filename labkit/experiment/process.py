"""Which process is a run's: the pid file a background run leaves in its folder (labkit.app.background
writes it), read back by every view that asks whether a run is still going (labkit.views.run_status)
and by Stop."""
from __future__ import annotations

import os
from pathlib import Path

from labkit.experiment.store import RunDir

PID_FILE, LOG_FILE, STOP_FILE = "pid", "log.txt", "stop_requested"
# the fork server's module names, now and before labkit was grouped into packages
FORK_SERVER_MODULES = (b"labkit.cli.worker", b"labkit.live_worker")

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
    it: its command line must hold the run id or the fork server's module (labkit.cli.worker, or
    labkit.live_worker for a run an older labkit started).
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
    return os.fsencode(run_id) in cmdline or any(m in cmdline for m in FORK_SERVER_MODULES)


