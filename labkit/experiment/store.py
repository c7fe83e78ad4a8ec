"""Runs on disk: data/runs/<run_id>/ with config.json, events.jsonl (one JSON event a line,
flushed as it happens, so another process can follow a run live), checkpoint.pt (the state after
the last completed task) and result.json.

result.json is the one source of truth for what a run has done and how it ended (its status):
it is rewritten atomically after the checkpoint of every task, and when the run ends, so
whatever moment a process is killed at, the tasks it lists are complete and the checkpoint holds
at least them. events.jsonl only tells a live view where training is now.

A process writing a run folder holds an exclusive lock on its `lock` file (`RunDir.writing`),
so a second writer (say `--resume` of a run still going) is refused, and a reader can tell a
run that is going from one whose process died (`RunDir.is_being_written`).

Damage is reported, never hidden and never repaired behind the user's back: reading a file that
is missing or not what labkit wrote raises StoreError naming the run and the file (result.json
rows of the wrong shape included: labkit.experiment.result.check_shapes), and so does a lock
another process holds. A write that fails (a full disk, a file that is a folder) leaves no
temporary file behind and raises one StoreError naming the runs folder, the file and why
(ENOSPC: the disk is full). ConfigError is kept for what the user gave: a run id that names no
stored run, a runs folder that cannot hold runs.

A config read back (config.json, and the copies in result.json and checkpoint.pt) is in today's
names: one written before a renaming (labkit.config.with_current_names) is read as what it meant,
with a RenamedValueWarning naming the run; the files are left as they were written.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from labkit.config import with_current_names
from labkit.experiment.result import RunResult, json_safe
from labkit.errors import ConfigError, LabkitError, StoreError

DEFAULT_RUNS_DIR = Path("data") / "runs"
LOCK_FILE = "lock"
LOCK_WAIT_S = 2.0  # a reader probes the lock for an instant: a writer retries this long


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers never see half a file.
    When writing fails (a full disk: OSError) the temporary file is removed and the error raised."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(json_safe(obj), indent=1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_torch_atomic(path: Path, state: Any) -> None:
    """torch.save to a temporary file beside `path`, then rename over it; as write_json_atomic,
    the temporary file is removed when writing fails, and the error raised as the OSError that
    caused it (torch reports a full disk as a RuntimeError caused by one)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except RuntimeError as error:
        cause = _os_error(error)
        if cause is None:
            raise
        raise cause from None
    finally:
        tmp.unlink(missing_ok=True)


def _os_error(error: BaseException) -> OSError | None:
    """The OSError `error` is or was raised from (its cause or context, at any depth), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _why(error: OSError) -> str:
    """"the disk is full (ENOSPC: No space left on device)", or "ENAME: message" for another OSError."""
    name = errno.errorcode.get(error.errno, type(error).__name__) if error.errno else type(error).__name__
    text = f"{name}: {error.strerror or error}"
    return f"the disk is full ({text})" if is_disk_full(error) else text


def is_disk_full(error: OSError) -> bool:
    """Whether `error` says there is no room left: no space (ENOSPC) or no quota (EDQUOT)."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def runs_dir_refused(runs_dir: Path, valid: str, error: OSError) -> LabkitError:
    """Making or writing in the runs folder `runs_dir` failed with `error`: StoreError when the
    disk is full (nothing the user gave is wrong), else ConfigError on runs_dir (the folder given
    cannot hold what is stored there: not a folder, not writable); `valid` says what it must be."""
    kind = StoreError if is_disk_full(error) else ConfigError
    return kind("runs_dir", str(runs_dir), f"{valid} ({_why(error)})")


MODELS = "models"  # where a run folder that keeps them holds the model after each task


def new_run_id(config: dict) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config['method']}-{config['dataset']}-{secrets.token_hex(3)}"


class RunDir:
    """One run's folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.run_id = self.path.name

    @classmethod
    def create(cls, config: dict, runs_dir: Path = DEFAULT_RUNS_DIR, run_id: str | None = None) -> "RunDir":
        """A new run folder holding config.json, named `run_id` (default: a new one); it appears in
        `runs_dir` complete (made under a hidden name, then renamed), so a listing never sees a
        folder without its config."""
        run = cls(Path(runs_dir) / (run_id or new_run_id(config)))
        staging = run.path.with_name(f".{run.run_id}.new")
        try:
            staging.mkdir(parents=True, exist_ok=False)
            write_json_atomic(staging / "config.json", config)
            os.rename(staging, run.path)
        except OSError as error:
            raise runs_dir_refused(runs_dir, "a folder runs can be stored in", error) from None
        return run

    @classmethod
    def open(cls, run_id: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> "RunDir":
        """The stored run `run_id`: a folder name directly inside `runs_dir`, nothing else."""
        if not is_run_id(run_id):
            raise ConfigError("run_id", run_id, f"a run id: the name of a folder in {runs_dir} (no '/', "
                              f"not starting with '.', at most {MAX_NAME_BYTES} bytes)")
        path = Path(runs_dir) / run_id
        try:
            found = (path / "config.json").is_file()
        except OSError as error:  # is_file passes on some: a name too long, a folder not to be read
            raise ConfigError("run_id", run_id, f"a run id: the name of a folder in {runs_dir} that can be read "
                              f"({type(error).__name__}: {error.strerror or error})") from None
        if not found:
            known = ", ".join(r.run_id for r in list_runs(runs_dir)[-5:]) or "none stored"
            raise ConfigError("run_id", run_id, f"no run with a config.json in {path}; recent runs: {known}")
        return cls(path)

    def _read_json(self, name: str) -> object:
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise StoreError("run", self.run_id, f"its {name} cannot be read ({type(error).__name__}: "
                             f"{error})") from None

    def config(self) -> dict:
        """The run's config as stored, in today's names (a dict with at least the fields views need)."""
        config = self._read_json("config.json")
        problem = config_problem(config)
        if problem:
            raise StoreError("run", self.run_id, f"its config.json is not a run's config ({problem})")
        return self._in_current_names(config)

    def _in_current_names(self, config: dict) -> dict:
        return with_current_names(config, f"run {self.run_id}")

    def _unreadable(self, name: str, error: OSError) -> StoreError:
        return StoreError("run", self.run_id, f"its {name} cannot be read ({type(error).__name__}: "
                          f"{error.strerror or error})")

    @contextlib.contextmanager
    def _storing(self, name: str) -> Iterator[None]:
        """Writing the run's file `name` in the block: an OSError (a full disk, a file that is a
        folder) becomes one StoreError naming the runs folder, the file and why, and saying how
        the run continues."""
        try:
            yield
        except OSError as error:
            raise StoreError("runs_dir", str(self.path.parent), f"a folder run {self.run_id}'s files can be "
                             f"written to: writing its {name} failed: {_why(error)}; once it can be written, "
                             f"`run --resume {self.run_id}` continues after its last completed task") from None

    def append_event(self, event: dict) -> None:
        with self._storing("events.jsonl"), open(self.path / "events.jsonl", "a") as f:
            f.write(json.dumps(json_safe(event)) + "\n")
            f.flush()

    def events(self) -> list[dict]:
        """Events written so far; a line still being written (not JSON yet) is skipped, and so is
        whatever follows it. StoreError when the file cannot be read, or holds a line that is
        JSON but not an event (a JSON object)."""
        try:
            data = (self.path / "events.jsonl").read_bytes()
        except FileNotFoundError:
            return []
        except OSError as error:
            raise self._unreadable("events.jsonl", error) from None
        out = []
        for n, line in enumerate(data.splitlines(), 1):
            try:
                event = json.loads(line)
            except ValueError:  # not JSON (nor UTF-8): cut off while being written
                break
            except RecursionError:  # JSON nested deeper than Python reads: no line labkit wrote
                raise StoreError("run", self.run_id, f"its events.jsonl line {n} is nested too deep to be an "
                                 "event that labkit wrote") from None
            if not isinstance(event, dict):
                raise StoreError("run", self.run_id, f"its events.jsonl line {n} is not an event (a JSON object) "
                                 "that labkit wrote")
            out.append(event)
        return out

    def write_result(self, result: RunResult) -> None:
        with self._storing("result.json"):
            write_json_atomic(self.path / "result.json", result.to_dict())

    def result(self) -> RunResult | None:
        """What the run has done (None before its first task completed or it ended); StoreError
        naming the run when result.json cannot be read or is not a run's result."""
        if not (self.path / "result.json").exists():
            return None
        stored = self._read_json("result.json")
        try:
            result = RunResult.from_dict(stored)
        except (ValueError, RecursionError) as error:
            raise StoreError("run", self.run_id, f"its result.json is not a run's result: {error}") from None
        problem = config_problem(result.config)
        if problem:
            raise StoreError("run", self.run_id, f"its result.json is not a run's result: the config it holds is "
                             f"not a run's ({problem})")
        if result.tasks_done > result.config["tasks"]:
            raise StoreError("run", self.run_id, f"its result.json lists {result.tasks_done} completed tasks for "
                             f"a run of {result.config['tasks']}")
        result.config = self._in_current_names(result.config)
        return result

    def save_checkpoint(self, state: dict) -> None:
        with self._storing("checkpoint.pt"):
            save_torch_atomic(self.path / "checkpoint.pt", state)

    def load_checkpoint(self) -> dict | None:
        """The state after the last completed task, or None when there is no checkpoint file;
        StoreError naming the run when the file cannot be read or is not a labkit run checkpoint."""
        path = self.path / "checkpoint.pt"
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is reported the same way
            raise StoreError("run", self.run_id, f"its checkpoint.pt cannot be read ({type(error).__name__}: "
                             f"{str(error)[:200]})") from None
        if not isinstance(state, dict) or not {"task", "model", "method", "result"} <= set(state):
            raise StoreError("run", self.run_id, "its checkpoint.pt is not a labkit run checkpoint")
        if isinstance(state.get("config"), dict):
            state["config"] = self._in_current_names(state["config"])
        if isinstance(state["result"], dict) and isinstance(state["result"].get("config"), dict):
            state["result"]["config"] = self._in_current_names(state["result"]["config"])
        return state

    def keep_task_models(self) -> None:
        """From now on keep the model after every task (models/task-T.pt), not only the latest
        checkpoint: for studies that look inside a stored run as it was after each task."""
        (self.path / MODELS).mkdir(exist_ok=True)

    def save_task_model(self, t: int, model_state: dict) -> None:
        """The model after task t, in a folder that keeps them (keep_task_models); else nothing."""
        folder = self.path / MODELS
        if folder.is_dir():
            with self._storing(f"{MODELS}/task-{t}.pt"):
                save_torch_atomic(folder / f"task-{t}.pt", model_state)

    def task_models(self) -> list[dict]:
        """The kept models after tasks 0..T-1 as task states {"task": t, "model": state}; StoreError
        when the folder kept none, or one of its completed tasks' models is missing or unreadable."""
        stored = self.result()
        done = stored.tasks_done if stored else 0
        out = []
        for t in range(done):
            path = self.path / MODELS / f"task-{t}.pt"
            try:
                out.append({"task": t, "model": torch.load(path, map_location="cpu", weights_only=True)})
            except Exception as error:  # noqa: BLE001 - missing or damaged: reported alike
                raise StoreError("run", self.run_id, f"its model after task {t + 1} cannot be read from {path} "
                                 f"({type(error).__name__}); was it run with its task models kept?") from None
        return out

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the folder's write lock for the block; StoreError when another process holds it,
        or the lock file cannot be opened (say it is a folder)."""
        try:
            lock = open(self.path / LOCK_FILE, "a+")
        except OSError as error:
            raise StoreError("run", self.run_id, f"its {LOCK_FILE} file cannot be opened to write the run "
                             f"({type(error).__name__}: {error.strerror or error})") from None
        with lock:
            if not lock_exclusive(lock, LOCK_WAIT_S):
                raise StoreError("run", self.run_id, "another process is writing this run folder now "
                                 "(it is still running): wait for it or stop it first")
            try:
                with self._storing(LOCK_FILE):
                    lock.seek(0), lock.truncate(), lock.write(str(os.getpid())), lock.flush()
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def is_being_written(self) -> bool:
        """Whether a process holds the folder's write lock now (a run going, on this machine);
        StoreError when the lock file exists but cannot be opened (say it is a folder)."""
        try:
            lock = open(self.path / LOCK_FILE)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise self._unreadable(LOCK_FILE, error) from None
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
        return False


MAX_NAME_BYTES = 255  # the longest file name Linux and macOS file systems take


def lock_exclusive(handle, wait_s: float, poll_s: float = 0.02) -> bool:
    """Take an exclusive flock on the open file `handle`, retrying for `wait_s` seconds; False when
    another process still holds it then."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(poll_s)


def is_run_id(run_id: object) -> bool:
    """A run id is a plain folder name: no path separators, not '.', '..' or a hidden name, and
    at most MAX_NAME_BYTES bytes as a file name."""
    if not (isinstance(run_id, str) and bool(run_id) and Path(run_id).name == run_id and
            not run_id.startswith(".") and "/" not in run_id and "\\" not in run_id and "\0" not in run_id):
        return False
    try:
        return len(os.fsencode(run_id)) <= MAX_NAME_BYTES
    except UnicodeError:  # a lone surrogate: no file name
        return False


RUN_CONFIG_TEXT = ("method", "dataset", "scenario", "loss")
RUN_CONFIG_COUNTS = ("tasks", "epochs")


def config_problem(config: object) -> str | None:
    """What makes `config` not a run's stored config, in words, or None: it must be a JSON
    object whose method, dataset, scenario and loss are strings and whose tasks and epochs are
    positive whole numbers (what every view of a run reads)."""
    if not isinstance(config, dict):
        return f"it is a {type(config).__name__}, not a JSON object"
    missing = [k for k in RUN_CONFIG_TEXT + RUN_CONFIG_COUNTS if k not in config]
    if missing:
        return f"lacks {', '.join(missing)}"
    text = [k for k in RUN_CONFIG_TEXT if not isinstance(config[k], str)]
    if text:
        return f"its {', '.join(text)} {'is not a string' if len(text) == 1 else 'are not strings'}"
    if not all(type(config[k]) is int and config[k] >= 1 for k in RUN_CONFIG_COUNTS):
        return "it holds no positive whole numbers of tasks and epochs"
    return None


def list_runs(runs_dir: Path = DEFAULT_RUNS_DIR) -> list[RunDir]:
    """Every run folder, oldest first (run ids start with their creation time), readable or not:
    a folder whose files are damaged is listed too, and reading it raises StoreError saying why."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return [RunDir(p) for p in sorted(root.iterdir()) if p.is_dir() and is_run_id(p.name)]
