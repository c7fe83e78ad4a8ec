"""Where a run stands, from its folder alone: status, progress and the result so far, for any run
(started by the app, from the command line, or long finished), followed as often as a page likes.

    state = run_state(run_dir)        # call again and again: status, progress, result so far
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit.experiment.process import LOG_FILE, STOP_FILE, run_pid, run_process
from labkit.experiment.result import RunResult
from labkit.experiment.store import RunDir, list_runs
from labkit.errors import StoreError, short_repr

ACTIVE = ("starting", "running")


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
    long finished). Completed tasks and the outcome come from result.json alone (labkit.experiment.store);
    events.jsonl adds only where training is now: the epoch losses of the task being learned
    and the device. An unreadable folder raises StoreError saying which file and why."""
    config = run_dir.config()
    stored = run_dir.result()
    events = run_dir.events()
    result = stored or RunResult(config=config, run_id=run_dir.run_id)
    started = [i for i, e in enumerate(events) if e.get("type") == "run_started"]
    current = events[started[-1]:] if started else []
    device = current[0].get("device") if current else stored.device if stored else None
    state = RunState(run_dir.run_id, config, result.status, result, device=device if isinstance(device, str) else None)
    for event in current:
        if event.get("type") == "epoch_ended":
            task, epoch, loss = _epoch_ended(run_dir, event, state.num_tasks, state.epochs)
            state.task, state.epoch = task, epoch + 1
            if task >= result.tasks_done and result.status == "running":  # the task being learned
                while len(result.epoch_losses) <= task:
                    result.epoch_losses.append([])
                del result.epoch_losses[task][epoch:]
                result.epoch_losses[task].append(loss)
    if result.status in ("diverged", "failed"):
        failure = result.failure or {}
        state.error, state.details = failure.get("message", "no reason was stored"), failure.get("traceback")
    elif result.status == "running":
        _check_process(run_dir, state, has_started=bool(started))
    return state


def _epoch_ended(run_dir: RunDir, event: dict, tasks: int, epochs: int) -> tuple[int, int, float | None]:
    """(task, epoch, loss) of an epoch_ended event: task and epoch whole numbers within the
    run's config, loss a number or null; else StoreError, the event not being labkit's."""
    task, epoch, loss = event.get("task"), event.get("epoch"), event.get("loss")
    if not (type(task) is int and 0 <= task < tasks and type(epoch) is int and 0 <= epoch < epochs
            and "loss" in event and (loss is None or (isinstance(loss, (int, float)) and not isinstance(loss, bool)))):
        raise StoreError("run", run_dir.run_id, f"its events.jsonl holds an event labkit did not write: "
                         f"{short_repr(event, 120)} (an epoch_ended event names a task below {tasks}, an epoch "
                         f"below {epochs} and a loss)")
    return task, epoch, loss


def _check_process(run_dir: RunDir, state: RunState, has_started: bool) -> None:
    """A run with no outcome stored: still going, or ended without one (refused, killed)?"""
    pid = run_pid(run_dir)
    resume = f"`python -m labkit run --resume {run_dir.run_id}` continues it after its last completed task"
    if run_dir.is_being_written() or run_process(run_dir) is not None:
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


def stored_states(runs_dir: str | Path) -> tuple[list[RunState], dict[str, str]]:
    """Every stored run's state, oldest first, and run id -> error for folders that cannot be
    read (StoreError: they are reported and skipped, never changed)."""
    states, problems = [], {}
    for run_dir in list_runs(runs_dir):
        try:
            states.append(run_state(run_dir))
        except StoreError as error:
            problems[run_dir.run_id] = str(error)
    return states, problems
