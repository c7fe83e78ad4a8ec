"""A fork server for background runs (python -m labkit.cli.worker).

It pays the slow imports every run needs once (torch, scikit-learn for digits, and torch._dynamo,
which the first optimiser imports: seconds each on a 2-core machine, as `python -X importtime -m
labkit.cli.worker < /dev/null` shows), then
reads one request a line on stdin, "RUNS_DIR<TAB>RUN_ID<TAB>LOG_PATH" (RUN_ID: a run folder the
app has just made, config.json and nothing done yet), forks a process for it that starts the run
stored there (`start_stored_run`) in a session of its own with its output in LOG_PATH, and
writes the child's pid back on stdout. It ends when stdin
closes (the app went away); runs already started go on. No threads run here before a fork.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import TextIO

import sklearn.datasets  # noqa: F401
import sklearn.model_selection  # noqa: F401
import torch._dynamo  # noqa: F401

from labkit.cli.main import main, stop_on_sigterm


def start_stored_run(runs_dir: str, run_id: str) -> int:
    """Start the run stored in the new folder RUNS_DIR/RUN_ID, from its config.json, at task 1;
    its exit code. The command line runs a stored folder with `run --resume RUN_ID` (which goes
    on after the folder's last completed task: in a new folder there is none)."""
    return main(["--runs-dir", runs_dir, "run", "--resume", run_id])


def run_child(runs_dir: str, run_id: str, log_path: str) -> None:
    """In the forked child: own session (so Stop signals just it), output to the log, SIGTERM
    as a clean stop (completed tasks kept), then the run; never returns. A crash prints its
    traceback to the log before the process exits (os._exit skips Python's own printing)."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    devnull, log = os.open(os.devnull, os.O_RDONLY), os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # Python's streams on the new descriptors, whatever they were bound to in the parent
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    code = 1
    try:
        code = start_stored_run(runs_dir, run_id)
    except BaseException:  # noqa: BLE001 - the traceback goes to the log, which the page shows
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(requests: TextIO, replies: TextIO) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished runs are reaped by the kernel
    for line in requests:
        runs_dir, run_id, log_path = line.rstrip("\n").split("\t")
        replies.flush()
        pid = os.fork()
        if pid == 0:
            run_child(runs_dir, run_id, log_path)
        replies.write(f"{pid}\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
