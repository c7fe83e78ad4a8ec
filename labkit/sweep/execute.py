"""Running a sweep's cells: on Ray (a local Ray sized to this machine by default, or a cluster by
address), or one at a time in this process (`workers=0`: the baseline the benchmark compares).

Resumable: a cell whose run finished or diverged (an outcome, not an accident) is not run again;
one that was interrupted, stopped or failed resumes in its own folder after its last completed
task. Fault tolerant: a cell that fails or diverges is recorded and the others go on. Ctrl-C
cancels the cells in flight (each records "stopped" and keeps its completed tasks) and returns
after the ones that finished are stored.

On a cluster the workers write the run folders themselves, so `runs_dir` must be a path every
node sees (a shared filesystem; on one machine, any folder). labkit's code is shipped to the
cluster with the job (Ray's runtime_env py_modules), so its nodes need only the requirements.
"""
from __future__ import annotations

import collections
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from labkit.config import RunConfig
from labkit.registry import ConfigError
from labkit.result import RunResult
from labkit.store import DEFAULT_RUNS_DIR, RunDir
from labkit.sweep.grid import Cell
from labkit.sweep.record import SweepRecord

DONE = ("finished", "diverged")  # what re-running a sweep keeps; any other status resumes
POLL_S = 0.5


@dataclass
class CellOutcome:
    cell: Cell
    run_id: str | None
    result: RunResult | None  # None: nothing could be read (see error)
    error: str | None = None
    ran: bool = False  # run (or resumed) by this call, not found complete

    @property
    def status(self) -> str:
        """The run's status; "failed" when nothing could be read, "pending" before it started."""
        if self.result is not None:
            return self.result.status
        return "failed" if self.error else "pending"


def run_cell(config: dict, run_path: str, threads: int) -> dict:
    """One cell into its run folder, on whichever process runs it (a Ray worker or this one), with
    torch limited to `threads` threads; returns the result as stored. An error is recorded in
    result.json as a failed run (the runner does so once it has started; here before that)."""
    import torch

    from labkit.runner import run

    torch.set_num_threads(threads)
    run_dir = RunDir(Path(run_path))
    try:
        return run(RunConfig.from_dict(config), run_dir=run_dir).to_dict()
    except KeyboardInterrupt:
        stored = run_dir.result()
        if stored is None:
            stored = RunResult(config=config, run_id=run_dir.run_id, status="stopped")
            run_dir.write_result(stored)
        return stored.to_dict()
    except Exception as error:  # noqa: BLE001 - a cell's failure is its record, the sweep goes on
        stored = run_dir.result()
        if stored is None or stored.status == "running":
            stored = stored or RunResult(config=config, run_id=run_dir.run_id)
            stored.status = "failed"
            stored.failure = {"kind": "error", "message": f"{type(error).__name__}: {error}",
                              "traceback": traceback.format_exc()}
            run_dir.write_result(stored)
        return stored.to_dict()


def _stored(runs_dir: Path, run_id: str | None) -> tuple[RunDir | None, RunResult | None]:
    """The cell's folder and stored result; (None, None) when it has no folder (yet, or any more)."""
    if run_id is None or not (Path(runs_dir) / run_id / "config.json").is_file():
        return None, None
    run_dir = RunDir(Path(runs_dir) / run_id)
    return run_dir, run_dir.result()


def check_resources(cpus_per_run: int, gpus_per_run: float | None) -> None:
    """What each run reserves: whole CPUs >= 1, and a fraction of one GPU (None: the default)."""
    if cpus_per_run < 1:
        raise ConfigError("cpus_per_run", cpus_per_run, "a whole number >= 1")
    if gpus_per_run is not None and not 0 <= gpus_per_run <= 1:
        raise ConfigError("gpus_per_run", gpus_per_run, "a fraction of one GPU, from 0 to 1")


def run_sweep(name: str, cells: list[Cell], runs_dir: Path = DEFAULT_RUNS_DIR, *, workers: int | None = None,
              address: str | None = None, cpus_per_run: int = 1, gpus_per_run: float | None = None,
              progress: bool = True, keep_models: Callable[[Cell], bool] | None = None) -> list[CellOutcome]:
    """Run every cell not already done (see the module's docstring); one outcome per cell, in order.

    workers: 0 runs the cells one after another in this process; None (default) or N starts Ray on
    this machine with N (default: all) CPUs, or joins the cluster at `address` ("auto",
    "ray://HOST:PORT"). cpus_per_run: CPUs (and torch threads) each run gets. gpus_per_run: the
    fraction of a GPU each run reserves (several small runs share one GPU); default 0.25 where the
    cluster has GPUs, else 0. keep_models: the cells whose new run folders keep the model after
    every task (RunDir.keep_task_models), not only the last checkpoint."""
    if workers is not None and workers < 0:
        raise ConfigError("workers", workers, "0 (one run at a time in this process) or a number of CPUs >= 1")
    check_resources(cpus_per_run, gpus_per_run)
    record = SweepRecord(name, runs_dir)
    record.include(cells)
    outcomes: list[CellOutcome | None] = []
    todo: list[int] = []
    for i, cell in enumerate(cells):
        run_id = record.run_id(cell)
        try:
            _, stored = _stored(runs_dir, run_id)
        except ConfigError as error:  # a damaged folder is reported, never overwritten; the rest go on
            outcomes.append(CellOutcome(cell, run_id, None, str(error)))
            continue
        if stored is not None and stored.status in DONE:
            outcomes.append(CellOutcome(cell, run_id, stored))
        else:
            outcomes.append(None)
            todo.append(i)
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc=name, unit="run", disable=not progress)
    try:
        def folder(cell: Cell) -> RunDir:
            return _folder(cell, record, runs_dir, keep_models)

        if workers == 0:
            _run_here(cells, todo, outcomes, folder, cpus_per_run, bar)
        else:
            _run_on_ray(cells, todo, outcomes, folder, workers, address, cpus_per_run, gpus_per_run, bar)
    finally:
        bar.close()
    return outcomes  # type: ignore[return-value]


def stored_outcomes(name: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> list[CellOutcome]:
    """The cells of the stored sweep `name` as they stand now, running nothing (for the app and
    notebooks): a cell not started yet is "pending", a damaged one "failed" with why."""
    record = SweepRecord(name, runs_dir)
    outcomes = []
    for cell in record.stored_cells():
        run_id = record.run_id(cell)
        try:
            outcomes.append(CellOutcome(cell, run_id, _stored(runs_dir, run_id)[1]))
        except ConfigError as error:
            outcomes.append(CellOutcome(cell, run_id, None, str(error)))
    return outcomes


def _folder(cell: Cell, record: SweepRecord, runs_dir: Path, keep_models: Callable[[Cell], bool] | None) -> RunDir:
    """The cell's run folder: its own from an earlier try (to resume), else a new one, recorded."""
    run_dir, _ = _stored(runs_dir, record.run_id(cell))
    if run_dir is None:
        run_dir = RunDir.create(cell.config.to_dict(), runs_dir)
        if keep_models is not None and keep_models(cell):
            run_dir.keep_task_models()
        record.assign(cell, run_dir.run_id)
    return run_dir


def _finish(outcomes: list, i: int, cell: Cell, run_dir: RunDir, result: dict | None, error: str | None,
            bar: tqdm) -> None:
    outcomes[i] = CellOutcome(cell, run_dir.run_id, RunResult.from_dict(result) if result else None, error, ran=True)
    bar.update(1)


def _run_here(cells, todo, outcomes, folder, threads, bar) -> None:
    for i in todo:
        run_dir = folder(cells[i])
        bar.set_postfix_str(f"{cells[i].label}, seed {cells[i].config.seed}")
        result = run_cell(cells[i].config.to_dict(), str(run_dir.path), threads)
        _finish(outcomes, i, cells[i], run_dir, result, None, bar)
        if result["status"] == "stopped":  # Ctrl-C inside the cell: stop the sweep, keep what finished
            raise KeyboardInterrupt


def start_ray(workers: int | None, address: str | None):
    """ray.init once per process: this machine (sized to `workers` CPUs, default all) or a cluster."""
    import ray

    import labkit

    if not ray.is_initialized():
        env = {"RAY_CHDIR_TO_TRIAL_DIR": "0"}  # Tune's trials keep the working directory they start in
        if address:
            ray.init(address=address, runtime_env={"py_modules": [labkit], "env_vars": env}, log_to_driver=False)
        else:
            env["PYTHONPATH"] = str(Path(labkit.__file__).resolve().parent.parent)
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env})
    return ray


def _run_on_ray(cells, todo, outcomes, folder, workers, address, cpus_per_run, gpus_per_run, bar) -> None:
    ray = start_ray(workers, address)
    resources = ray.cluster_resources()
    if gpus_per_run is None:
        gpus_per_run = 0.25 if resources.get("GPU", 0) else 0.0
    remote = ray.remote(run_cell).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
    slots = max(1, int(resources.get("CPU", 1) // cpus_per_run))
    if gpus_per_run:
        slots = min(slots, max(1, int(resources.get("GPU", 0) / gpus_per_run)))
    pending, running, shown = collections.deque(todo), {}, ""
    try:
        while pending or running:
            while pending and len(running) < slots:
                i = pending.popleft()
                run_dir = folder(cells[i])
                running[remote.remote(cells[i].config.to_dict(), str(run_dir.path), cpus_per_run)] = (i, run_dir)
            done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in done:
                i, run_dir = running.pop(ref)
                try:
                    _finish(outcomes, i, cells[i], run_dir, ray.get(ref), None, bar)
                except ray.exceptions.RayError as error:  # the worker died (out of memory, node lost)
                    _finish(outcomes, i, cells[i], run_dir, None, f"{type(error).__name__}: {error}", bar)
            text = _running_text(cells, running)
            if text != shown:
                bar.set_postfix_str(shown := text)
    except KeyboardInterrupt:
        for ref in running:
            ray.cancel(ref)  # a KeyboardInterrupt in the cell: the runner records "stopped"
        ray.wait(list(running), num_returns=len(running), timeout=10)
        raise


def _running_text(cells: list[Cell], running: dict) -> str:
    """Each running cell and the task it is on: 'method=lwf s1 task 3/5; ...'."""
    parts = []
    for i, run_dir in running.values():
        try:
            stored = run_dir.result()
        except ConfigError:
            stored = None
        done = stored.tasks_done if stored else 0
        parts.append(f"{cells[i].label} s{cells[i].config.seed} task {min(done + 1, cells[i].config.tasks)}"
                     f"/{cells[i].config.tasks}")
    return "; ".join(parts)
