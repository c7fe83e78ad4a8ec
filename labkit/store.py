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
is missing or not what labkit wrote raises ConfigError naming the run and the file.

A config read back (config.json, and the copies in result.json and checkpoint.pt) is in today's
names: one written before a renaming (labkit.config.with_current_names) is read as what it meant,
with a RenamedValueWarning naming the run; the files are left as they were written.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Iterator
from typing import Any

import torch

from labkit.config import with_current_names
from labkit.registry import ConfigError
from labkit.result import RunResult

DEFAULT_RUNS_DIR = Path("data") / "runs"
LOCK_FILE = "lock"
LOCK_WAIT_S = 2.0  # a reader probes the lock for an instant: a writer retries this long


def _json_safe(obj: Any) -> Any:
    """NaN/inf -> None, recursively, so files are strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_json_safe(obj), indent=1))
    os.replace(tmp, path)


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
            raise ConfigError("runs_dir", str(runs_dir), f"a folder runs can be stored in "
                              f"({type(error).__name__}: {error.strerror or error})") from None
        return run

    @classmethod
    def open(cls, run_id: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> "RunDir":
        """The stored run `run_id`: a folder name directly inside `runs_dir`, nothing else."""
        if not is_run_id(run_id):
            raise ConfigError("run_id", run_id, f"a run id: the name of a folder in {runs_dir} (no '/', "
                              "not starting with '.')")
        path = Path(runs_dir) / run_id
        if not (path / "config.json").is_file():
            known = ", ".join(r.run_id for r in list_runs(runs_dir)[-5:]) or "none stored"
            raise ConfigError("run_id", run_id, f"no run with a config.json in {path}; recent runs: {known}")
        return cls(path)

    def _read_json(self, name: str) -> object:
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError("run", self.run_id, f"its {name} cannot be read ({type(error).__name__}: {error})") from None

    def config(self) -> dict:
        """The run's config as stored, in today's names (a dict with at least the fields views need)."""
        config = self._read_json("config.json")
        missing = [k for k in ("method", "dataset", "scenario", "tasks", "epochs", "loss")
                   if not isinstance(config, dict) or k not in config]
        if missing:
            raise ConfigError("run", self.run_id, f"its config.json is not a run's config (lacks {', '.join(missing)})")
        if not isinstance(config["tasks"], int) or not isinstance(config["epochs"], int) or \
                config["tasks"] < 1 or config["epochs"] < 1:
            raise ConfigError("run", self.run_id, "its config.json holds no positive whole numbers of tasks and epochs")
        return self._in_current_names(config)

    def _in_current_names(self, config: dict) -> dict:
        return with_current_names(config, f"run {self.run_id}")

    def append_event(self, event: dict) -> None:
        with open(self.path / "events.jsonl", "a") as f:
            f.write(json.dumps(_json_safe(event)) + "\n")
            f.flush()

    def events(self) -> list[dict]:
        """Events written so far; a line still being written is skipped."""
        path = self.path / "events.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return out

    def write_result(self, result: RunResult) -> None:
        write_json_atomic(self.path / "result.json", result.to_dict())

    def result(self) -> RunResult | None:
        """What the run has done (None before its first task completed or it ended)."""
        if not (self.path / "result.json").exists():
            return None
        try:
            result = RunResult.from_dict(self._read_json("result.json"))
        except ValueError as error:
            if isinstance(error, ConfigError):
                raise
            raise ConfigError("run", self.run_id, f"its result.json is not a run's result: {error}") from None
        result.config = self._in_current_names(result.config)
        return result

    def save_checkpoint(self, state: dict) -> None:
        tmp = self.path / ".checkpoint.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.path / "checkpoint.pt")

    def load_checkpoint(self) -> dict | None:
        """The state after the last completed task, or None when there is no checkpoint file."""
        path = self.path / "checkpoint.pt"
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is reported the same way
            raise ConfigError("run", self.run_id, f"its checkpoint.pt cannot be read ({type(error).__name__}: "
                              f"{str(error)[:200]})") from None
        if not isinstance(state, dict) or not {"task", "model", "method", "result"} <= set(state):
            raise ConfigError("run", self.run_id, "its checkpoint.pt is not a labkit run checkpoint")
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
            tmp = folder / f".task-{t}.pt.tmp"
            torch.save(model_state, tmp)
            os.replace(tmp, folder / f"task-{t}.pt")

    def task_models(self) -> list[dict]:
        """The kept models after tasks 0..T-1 as checkpoints {"task": t, "model": state}; ConfigError
        when the folder kept none, or one of its completed tasks' models is missing or unreadable."""
        stored = self.result()
        done = stored.tasks_done if stored else 0
        out = []
        for t in range(done):
            path = self.path / MODELS / f"task-{t}.pt"
            try:
                out.append({"task": t, "model": torch.load(path, map_location="cpu", weights_only=True)})
            except Exception as error:  # noqa: BLE001 - missing or damaged: reported alike
                raise ConfigError("run", self.run_id, f"its model after task {t + 1} cannot be read from {path} "
                                  f"({type(error).__name__}); was it run with its task models kept?") from None
        return out

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the folder's write lock for the block; ConfigError when another process holds it."""
        with open(self.path / LOCK_FILE, "a+") as lock:
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ConfigError("run", self.run_id, "another process is writing this run folder now "
                                          "(it is still running): wait for it or stop it first") from None
                    time.sleep(0.05)
            lock.seek(0), lock.truncate(), lock.write(str(os.getpid())), lock.flush()
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def is_being_written(self) -> bool:
        """Whether a process holds the folder's write lock now (a run going, on this machine)."""
        path = self.path / LOCK_FILE
        if not path.exists():
            return False
        with open(path) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def is_run_id(run_id: object) -> bool:
    """A run id is a plain folder name: no path separators, not '.', '..' or a hidden name."""
    return isinstance(run_id, str) and bool(run_id) and Path(run_id).name == run_id and \
        not run_id.startswith(".") and "/" not in run_id and "\\" not in run_id and "\0" not in run_id


def list_runs(runs_dir: Path = DEFAULT_RUNS_DIR) -> list[RunDir]:
    """Every run folder, oldest first (run ids start with their creation time), readable or not:
    a folder whose files are damaged is listed too, and reading it raises ConfigError saying why."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return [RunDir(p) for p in sorted(root.iterdir()) if p.is_dir() and is_run_id(p.name)]
