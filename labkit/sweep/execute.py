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

Two processes may run the same sweep at once: each cell is run by one of them. A cell's folder is
made and recorded under the record's lock (SweepRecord.locked), and the run holds the folder's
write lock (RunDir.writing) from before it reads anything until it ends; a process that finds a
cell's folder being written by another leaves it alone (never runs it, never writes to it) and
reports the cell "running elsewhere". A sweep with nothing left to run reads its record and
returns without starting Ray. A Ray request that can never be met (more CPUs or GPUs per run
than any node has, an address that does not answer, ray:// without Ray's client installed) is
refused before any folder is made, instead of waiting for ever.
"""
from __future__ import annotations

import collections
import contextlib
import importlib.util
import ipaddress
import os
import socket
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from labkit.config import RunConfig
from labkit.experiment.result import RunResult
from labkit.experiment.store import DEFAULT_RUNS_DIR, RunDir
from labkit.errors import ConfigError, StoreError
from labkit.sweep.grid import Cell
from labkit.sweep.record import SweepRecord

DONE = ("finished", "diverged")  # what re-running a sweep keeps; any other status resumes
POLL_S = 0.5
ELSEWHERE = "running elsewhere"  # a cell whose folder another process is writing now
CONNECT_S = 5.0  # how long an address may take to answer
CELL_LOG = "cell.log"  # what a cell's run printed (stdout and stderr), in its run folder, on whichever node
VISIBLE_S = 60.0  # how long each node may take to say whether it sees the runs folder


@dataclass
class CellOutcome:
    cell: Cell
    run_id: str | None
    result: RunResult | None  # None: nothing could be read (see error)
    error: str | None = None
    ran: bool = False  # run (or resumed) by this call, not found complete
    elsewhere: bool = False  # another process is writing its folder: left alone by this call

    @property
    def status(self) -> str:
        """The run's status; "running elsewhere" when another process is writing its folder,
        "failed" when nothing could be read, "pending" before it started."""
        if self.elsewhere:
            return ELSEWHERE
        if self.result is not None:
            return self.result.status
        return "failed" if self.error else "pending"


class _HeldRunDir(RunDir):
    """A run folder whose write lock this process holds already (run_cell took it to claim the
    cell): the runner's own `writing()` is then a no-op, as a second flock would refuse it."""

    @contextlib.contextmanager
    def writing(self):
        yield


def run_cell(config: dict, run_path: str, threads: int, sweep: str | None = None) -> dict | None:
    """One cell into its run folder, on whichever process runs it (a Ray worker or this one), with
    torch limited to `threads` threads; returns the result as stored. The folder's write lock is
    taken first: None when another process holds it (nothing is run or written: the cell is
    running elsewhere); what the run prints goes to CELL_LOG in its folder; a lock that cannot be taken otherwise (its file damaged) is a failed
    result, not written either. A result found done there is returned as it is, not run again.
    An error is recorded in result.json as a failed run (the runner does so once it has started;
    here before that)."""
    run_dir = RunDir(Path(run_path))
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(run_dir.writing())
        except StoreError as error:  # never touch a folder this process does not hold
            if "another process" in error.valid or _busy(run_dir):
                return None
            return RunResult(config=config, run_id=run_dir.run_id, status="failed",
                             failure={"kind": "error", "message": f"StoreError: {error}"}).to_dict()
        log = held.enter_context(open(run_dir.path / CELL_LOG, "a", encoding="utf-8"))
        held.enter_context(contextlib.redirect_stdout(log))
        held.enter_context(contextlib.redirect_stderr(log))
        return _run_claimed(config, _HeldRunDir(run_dir.path), threads, sweep)


def _busy(run_dir: RunDir) -> bool:
    """Whether another process is writing the folder now (False when its lock file is damaged:
    then taking the lock fails, and says why)."""
    try:
        return run_dir.is_being_written()
    except StoreError:
        return False


def _run_claimed(config: dict, run_dir: RunDir, threads: int, sweep: str | None = None) -> dict:
    """run_cell's work, in a folder this process holds the write lock of."""
    import torch

    from labkit.experiment.runner import run

    torch.set_num_threads(threads)
    try:
        stored = run_dir.result()
        if stored is not None and stored.status in DONE:  # another process ran it to its end meanwhile
            return stored.to_dict()
        return run(RunConfig.from_dict(config), run_dir=run_dir, experiment=sweep).to_dict()
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
    run_dir = _existing(runs_dir, run_id)
    return (None, None) if run_dir is None else (run_dir, run_dir.result())


def _existing(runs_dir: Path, run_id: str | None) -> RunDir | None:
    """The run folder `run_id` when it holds a config.json; StoreError when it cannot be looked at."""
    if run_id is None:
        return None
    path = Path(runs_dir) / run_id
    try:
        return RunDir(path) if (path / "config.json").is_file() else None
    except OSError as error:  # a folder this process may not read
        raise StoreError("run", run_id, f"a run folder that can be read ({type(error).__name__}: "
                         f"{error.strerror or error})") from None


def check_resources(cpus_per_run: int, gpus_per_run: float | None) -> None:
    """What each run reserves: whole CPUs >= 1, and a fraction of one GPU (None: the default)."""
    if not isinstance(cpus_per_run, int) or isinstance(cpus_per_run, bool) or cpus_per_run < 1:
        raise ConfigError("cpus_per_run", cpus_per_run, "a whole number >= 1")
    if gpus_per_run is not None and not (isinstance(gpus_per_run, (int, float)) and 0 <= gpus_per_run <= 1):
        raise ConfigError("gpus_per_run", gpus_per_run, "a fraction of one GPU, from 0 to 1")


def check_attempts(cell_timeout: float | None, retries: int, workers: int | None) -> None:
    """A cell's time limit (seconds > 0, or None) and retries (a whole number >= 0), both on Ray
    only: a cell run in this process (workers 0) cannot be stopped or restarted from outside."""
    if cell_timeout is not None:
        if isinstance(cell_timeout, bool) or not isinstance(cell_timeout, (int, float)) or not 0 < cell_timeout < 1e9:
            raise ConfigError("cell_timeout", cell_timeout, "seconds > 0 (or none: no limit)")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        raise ConfigError("retries", retries, "a whole number from 0 to 100")
    if workers == 0 and (cell_timeout is not None or retries):
        field, value = ("cell_timeout", cell_timeout) if cell_timeout is not None else ("retries", retries)
        raise ConfigError(field, value, "none with workers 0: a cell run in this process cannot be stopped or "
                          "restarted from outside (run it on Ray: workers >= 1)")


def _host_port(address: str) -> tuple[str, int] | None:
    """'HOST:PORT' (an IPv6 host in brackets) -> (host, port); None when it is not that."""
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _answers(host: str, port: int) -> bool:
    """Whether something accepts a connection at host:port within CONNECT_S; Ray reads a loopback
    host as this node's own address (its head listens there), so that is tried too."""
    hosts = [host]
    if _is_loopback(host):
        from ray.util import get_node_ip_address
        hosts.append(get_node_ip_address())
    for candidate in hosts:
        try:
            socket.create_connection((candidate, port), timeout=CONNECT_S).close()
            return True
        except (OSError, UnicodeError):  # refused, unreachable, timed out, a name that does not resolve
            continue
    return False


def check_address(address: str | None) -> None:
    """A cluster address that can be joined, checked before Ray starts (ray.init would wait for
    ever on one that does not answer): None (a local Ray), "auto" (Ray finds it), HOST:PORT or
    ray://HOST:PORT answering within CONNECT_S, the latter with Ray's client installed."""
    if address is None or address in ("auto", "local"):
        return
    usage = "auto, HOST:PORT of a Ray head (e.g. 10.0.0.5:6379) or ray://HOST:PORT"
    if not isinstance(address, str):
        raise ConfigError("address", address, usage)
    client = address.startswith("ray://")
    where = _host_port(address[len("ray://"):] if client else address)
    if where is None:
        raise ConfigError("address", address, usage)
    if client and importlib.util.find_spec("grpc") is None:
        raise ConfigError("address", address, "ray:// needs Ray's client, which is not installed: pip install "
                          "'ray[client]' (or, on a node of the cluster, use auto or HOST:PORT)")
    if not _answers(*where):
        raise ConfigError("address", address, f"a Ray cluster's address that answers: nothing accepted a "
                          f"connection at {where[0]}:{where[1]} within {CONNECT_S:g} s (is the head started? "
                          f"`ray start --head` prints its address)")


def fit_request(nodes: list[dict], cpus_per_run: int, gpus_per_run: float | None) -> float:
    """The GPUs each run reserves (default 0.25 where the cluster has GPUs, else 0), after checking
    that some node (its resources: {"CPU": 2, "GPU": 1}) can hold one run: Ray waits for ever for
    a request no node can meet."""
    cpus = max(n.get("CPU", 0) for n in nodes)
    if cpus_per_run > cpus:
        raise ConfigError("cpus_per_run", cpus_per_run, f"at most {cpus:g}: the cluster offers {cpus:g} CPUs "
                          "(on its largest node)")
    gpus = max(n.get("GPU", 0) for n in nodes if n.get("CPU", 0) >= cpus_per_run)
    if gpus_per_run is None:
        return 0.25 if gpus else 0.0
    if gpus_per_run > gpus:
        raise ConfigError("gpus_per_run", gpus_per_run, f"at most {gpus:g}: the cluster offers {gpus:g} GPUs"
                          + ("" if gpus else " (0 runs on CPUs)"))
    return gpus_per_run


def sees(marker: str) -> bool:
    """On a node: whether the file the driver just wrote is there (the runs folder is shared)."""
    return os.path.isfile(marker)


def check_visible(ray, runs_dir: Path) -> None:
    """Every live node of the cluster sees `runs_dir` (a file written here is there), checked
    before any cell starts: on a node that does not, every cell would fail. ConfigError naming the
    nodes that do not."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    marker = Path(runs_dir) / f".visible-{uuid.uuid4().hex}"
    marker.write_text("written by the sweep's driver: each node looks for it, then it is removed\n")
    try:
        probe = ray.remote(sees)
        refs = {n.get("NodeManagerAddress", n["NodeID"]): probe.options(
            num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(str(marker)) for n in nodes}
        blind = []
        for where, ref in refs.items():
            try:
                seen = ray.get(ref, timeout=VISIBLE_S)
            except ray.exceptions.RayError as error:  # the node did not answer
                seen, where = False, f"{where} ({type(error).__name__})"
            if not seen:
                blind.append(where)
    finally:
        marker.unlink(missing_ok=True)
    if blind:
        raise ConfigError("runs_dir", str(runs_dir), f"a folder every node of the cluster sees (a shared filesystem, "
                          f"mounted at the same path): {len(blind)} of {len(nodes)} node(s) do not see it: "
                          + ", ".join(blind))


def local_gpus() -> int:
    """The GPUs a local Ray's runs can use: those torch sees here (a CPU build of torch sees none)."""
    import torch

    return torch.cuda.device_count()


def ray_for(workers: int | None, address: str | None, cpus_per_run: int, gpus_per_run: float | None):
    """Ray started (or joined) and checked to meet each run's request: (ray, GPUs per run);
    ConfigError naming the option that cannot be met, before anything is written."""
    import ray

    check_address(address)
    if address is None and not ray.is_initialized():  # a local Ray's CPUs and GPUs are known before it starts
        fit_request([{"CPU": workers or os.cpu_count(), "GPU": local_gpus()}], cpus_per_run, gpus_per_run)
    ray = start_ray(workers, address)
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")] or [ray.cluster_resources()]
    return ray, fit_request(nodes, cpus_per_run, gpus_per_run)


def run_sweep(name: str, cells: list[Cell], runs_dir: Path = DEFAULT_RUNS_DIR, *, workers: int | None = None,
              address: str | None = None, cpus_per_run: int = 1, gpus_per_run: float | None = None,
              progress: bool = True, keep_models: Callable[[Cell], bool] | None = None,
              cell_timeout: float | None = None, retries: int = 0) -> list[CellOutcome]:
    """Run every cell not already done (see the module's docstring); one outcome per cell, in order.

    workers: 0 runs the cells one after another in this process; None (default) or N starts Ray on
    this machine with N (default: all) CPUs, or joins the cluster at `address` ("auto",
    "ray://HOST:PORT"). cpus_per_run: CPUs (and torch threads) each run gets. gpus_per_run: the
    fraction of a GPU each run reserves (several small runs share one GPU); default 0.25 where the
    cluster has GPUs, else 0. keep_models: the cells whose new run folders keep the model after
    every task (RunDir.keep_task_models), not only the last checkpoint. cell_timeout: on Ray, the
    seconds a cell may run before it is stopped and recorded failed ("timed out"); retries: on Ray,
    how many more times a cell whose worker died or timed out is started again (it resumes after
    its last completed task). `runs_dir` is made absolute here, as every worker must read it."""
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise ConfigError("workers", workers, "0 (one run at a time in this process) or a number of CPUs >= 1")
    check_resources(cpus_per_run, gpus_per_run)
    check_attempts(cell_timeout, retries, workers)
    runs_dir = Path(runs_dir).absolute()  # a worker's working directory is not this one's
    record = SweepRecord(name, runs_dir)
    outcomes, todo = _standing(cells, record, runs_dir)
    if not todo:  # every cell done (or running elsewhere): no Ray, nothing written
        return outcomes  # type: ignore[return-value]
    ray = None
    if workers != 0:
        ray, gpus_per_run = ray_for(workers, address, cpus_per_run, gpus_per_run)
    record.include(cells)
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc=name, unit="run", disable=not progress)
    try:
        def folder(cell: Cell) -> RunDir:
            return _folder(cell, record, runs_dir, keep_models)

        if ray is None:
            _run_here(name, cells, todo, outcomes, folder, cpus_per_run, bar)
        else:
            check_visible(ray, runs_dir)
            _run_on_ray(ray, name, cells, todo, outcomes, folder, cpus_per_run, gpus_per_run, bar, cell_timeout,
                        retries)
    finally:
        bar.close()
    return outcomes  # type: ignore[return-value]


def _standing(cells: list[Cell], record: SweepRecord, runs_dir: Path) -> tuple[list[CellOutcome | None], list[int]]:
    """Each cell's outcome as stored (None for one to run) and the indices of those to run: a
    cell not done and not being written by another process. Reads only."""
    outcomes: list[CellOutcome | None] = []
    todo: list[int] = []
    for i, cell in enumerate(cells):
        run_id = record.run_id(cell)
        try:
            run_dir, stored = _stored(runs_dir, run_id)
        except StoreError as error:  # a damaged folder is reported, never overwritten; the rest go on
            outcomes.append(CellOutcome(cell, run_id, None, str(error)))
            continue
        if stored is not None and stored.status in DONE:
            outcomes.append(CellOutcome(cell, run_id, stored))
        elif run_dir is not None and _busy(run_dir):
            outcomes.append(CellOutcome(cell, run_id, None, elsewhere=True))
        else:
            outcomes.append(None)
            todo.append(i)
    return outcomes, todo


def standing_outcomes(name: str, cells: list[Cell], runs_dir: Path = DEFAULT_RUNS_DIR) -> list[CellOutcome]:
    """Each of `cells` as it stands in sweep `name`'s record, reading only (a dry run): done, being
    written elsewhere, or to run ("pending"; with its folder's run_id when it has one, to resume)."""
    record = SweepRecord(name, runs_dir)
    standing, _ = _standing(cells, record, runs_dir)
    return [o if o is not None else CellOutcome(cell, record.run_id(cell), _stored(runs_dir, record.run_id(cell))[1])
            for o, cell in zip(standing, cells)]


def stored_outcomes(name: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> list[CellOutcome]:
    """The cells of the stored sweep `name` as they stand now, running nothing (for the app and
    notebooks): a cell not started yet is "pending", a damaged one "failed" with why."""
    record = SweepRecord(name, runs_dir)
    outcomes = []
    for cell in record.stored_cells():
        run_id = record.run_id(cell)
        try:
            outcomes.append(CellOutcome(cell, run_id, _stored(runs_dir, run_id)[1]))
        except StoreError as error:
            outcomes.append(CellOutcome(cell, run_id, None, str(error)))
    return outcomes


def _folder(cell: Cell, record: SweepRecord, runs_dir: Path, keep_models: Callable[[Cell], bool] | None) -> RunDir:
    """The cell's run folder, claimed under the record's lock (read again: another process may
    have made it meanwhile): its own from an earlier try (to resume, or being written by another
    process), else a new one, recorded at once."""
    with record.locked():
        run_dir = _existing(runs_dir, record.run_id(cell))
        if run_dir is not None:
            return run_dir
        run_dir = RunDir.create(cell.config.to_dict(), runs_dir)
        if keep_models is not None and keep_models(cell):
            run_dir.keep_task_models()
        record.assign(cell, run_dir.run_id)
    return run_dir


def _finish(outcomes: list, i: int, cell: Cell, run_dir: RunDir, result: dict | None, error: str | None,
            bar: tqdm) -> None:
    """The cell's outcome: its result (None from run_cell: another process holds its folder)."""
    elsewhere = result is None and error is None
    outcomes[i] = CellOutcome(cell, run_dir.run_id, RunResult.from_dict(result) if result else None, error,
                              ran=not elsewhere, elsewhere=elsewhere)
    bar.update(1)


def _run_here(name, cells, todo, outcomes, folder, threads, bar) -> None:
    for i in todo:
        run_dir = folder(cells[i])
        bar.set_postfix_str(f"{cells[i].label}, seed {cells[i].config.seed}")
        result = None if _busy(run_dir) else run_cell(cells[i].config.to_dict(), str(run_dir.path), threads, name)
        _finish(outcomes, i, cells[i], run_dir, result, None, bar)
        if result is not None and result["status"] == "stopped":  # Ctrl-C in the cell: stop, keep what finished
            raise KeyboardInterrupt


def start_ray(workers: int | None, address: str | None):
    """ray.init once per process: this machine (sized to `workers` CPUs, default all) or a cluster."""
    import ray

    import labkit

    if not ray.is_initialized():
        env = {"RAY_CHDIR_TO_TRIAL_DIR": "0"}  # Tune's trials keep the working directory they start in
        if address:
            try:
                ray.init(address=address, runtime_env={"py_modules": [labkit], "env_vars": env}, log_to_driver=False)
            except Exception as error:  # noqa: BLE001 - Ray's many ways to refuse a driver, token auth's included
                hint = (" (Ray's token authentication: set RAY_AUTH_TOKEN to the cluster's token, or RAY_AUTH_MODE="
                        "disabled on every node and here)") if "auth" in str(error).lower() else ""
                raise ConfigError("address", address, f"a Ray cluster this process can join ({type(error).__name__}: "
                                  f"{str(error)[:300]}){hint}") from None
        else:
            env["PYTHONPATH"] = str(Path(labkit.__file__).resolve().parent.parent)
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env})
    return ray


def _run_on_ray(ray, name, cells, todo, outcomes, folder, cpus_per_run, gpus_per_run, bar, cell_timeout=None,
                retries=0) -> None:
    resources = ray.cluster_resources()
    remote = ray.remote(run_cell).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
    slots = max(1, int(resources.get("CPU", 1) // cpus_per_run))
    if gpus_per_run:
        slots = min(slots, max(1, int(resources.get("GPU", 0) / gpus_per_run)))
    pending, running, shown = collections.deque(todo), {}, ""
    attempts = collections.Counter()
    try:
        while pending or running:
            while pending and len(running) < slots:
                i = pending.popleft()
                run_dir = folder(cells[i])
                if _busy(run_dir):  # another process runs this cell: leave it alone
                    _finish(outcomes, i, cells[i], run_dir, None, None, bar)
                    continue
                attempts[i] += 1
                ref = remote.remote(cells[i].config.to_dict(), str(run_dir.path), cpus_per_run, name)
                running[ref] = (i, run_dir, time.monotonic())
            done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            lost = []  # (ref, i, run_dir, why): cells whose worker died or ran out of time
            for ref in done:
                i, run_dir, _ = running.pop(ref)
                try:
                    _finish(outcomes, i, cells[i], run_dir, ray.get(ref), None, bar)
                except ray.exceptions.RayError as error:  # the worker died (out of memory, node lost)
                    lost.append((ref, i, run_dir, f"its worker died ({type(error).__name__}: "
                                                  f"{str(error).splitlines()[0][:300]})"))
            if cell_timeout is not None:
                for ref in [r for r, (_, _, started) in running.items() if time.monotonic() - started > cell_timeout]:
                    ray.cancel(ref, force=True)  # kills the worker: the run stops where it is
                    lost.append((ref, *running.pop(ref)[:2], f"timed out after {cell_timeout:g} s (cell_timeout)"))
            for ref, i, run_dir, why in lost:
                with contextlib.suppress(Exception):
                    ray.wait([ref], timeout=10)  # the killed worker lets go of the folder's lock
                if attempts[i] <= retries:
                    pending.append(i)  # started again, it resumes after the last completed task
                    continue
                _finish(outcomes, i, cells[i], run_dir, record_lost(run_dir, cells[i], why, attempts[i]), None, bar)
            text = _running_text(cells, running)
            if text != shown:
                bar.set_postfix_str(shown := text)
    except KeyboardInterrupt:
        for ref in running:
            ray.cancel(ref)  # a KeyboardInterrupt in the cell: the runner records "stopped"
        ray.wait(list(running), num_returns=len(running), timeout=10)
        raise


def record_lost(run_dir: RunDir, cell: Cell, why: str, attempts: int) -> dict:
    """A cell whose worker died or was stopped, in its folder as a failed run with the reason (the
    completed tasks stay), so neither its folder nor `runs` says "running" for ever."""
    reason = f"{why}; {attempts} attempt(s)"
    try:
        with run_dir.writing():
            stored = run_dir.result()
            if stored is not None and stored.status in DONE:
                return stored.to_dict()
            stored = stored or RunResult(config=cell.config.to_dict(), run_id=run_dir.run_id)
            stored.status, stored.failure = "failed", {"kind": "error", "message": f"the cell {reason}"}
            run_dir.write_result(stored)
            return stored.to_dict()
    except StoreError as error:  # still held (a worker the cluster has not reaped yet): say so, write nothing
        return RunResult(config=cell.config.to_dict(), run_id=run_dir.run_id, status="failed",
                         failure={"kind": "error", "message": f"the cell {reason}; its folder could not be "
                                                              f"updated: {error}"}).to_dict()


def _running_text(cells: list[Cell], running: dict) -> str:
    """Each running cell and the task it is on: 'method=lwf s1 task 3/5; ...'."""
    parts = []
    for i, run_dir, _ in running.values():
        try:
            stored = run_dir.result()
        except StoreError:
            stored = None
        done = stored.tasks_done if stored else 0
        parts.append(f"{cells[i].label} s{cells[i].config.seed} task {min(done + 1, cells[i].config.tasks)}"
                     f"/{cells[i].config.tasks}")
    return "; ".join(parts)
