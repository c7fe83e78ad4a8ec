"""Rows of a table (label -> config) over seeds, run through the sweep in this process: what the
notebooks' tables stand on. Stored in `runs_dir` as one sweep, a second call with the same rows
and seeds reads them back at once instead of training again."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from labkit.config import RunConfig
from labkit.data import Scenario, load_dataset
from labkit.experiment.result import RunResult
from labkit.experiment.runner import config_scenario
from labkit.experiment.store import RunDir
from labkit.models import IncrementalNet
from labkit.sweep.execute import run_sweep
from labkit.sweep.grid import Cell, typed_params
from labkit.sweep.record import auto_name


def run_rows(configs: dict[str, RunConfig], seeds: list[int], desc: str, runs_dir: Path | None = None,
             keep_models: tuple[str, ...] = ()) -> dict[str, list[RunResult]]:
    """label -> one result per seed (in this process, with a progress bar over the runs). With
    `runs_dir` the runs are stored there as one sweep (delete its record, NAME.sweep.json, to
    train again); without, they go to a folder removed afterwards. The rows labelled in
    `keep_models` keep their model after every task (read back with `task_models`; needs
    `runs_dir`). A run that fails raises: a notebook must never read a crash as a result."""
    if keep_models and runs_dir is None:
        raise ValueError("keep_models needs a runs_dir to keep the models in")
    cells = [Cell({"row": label, "seed": seed}, typed_params(config.replace(seed=seed).validate()))
             for label, config in configs.items() for seed in seeds]
    with tempfile.TemporaryDirectory(prefix="labkit-rows-") as folder:
        outcomes = run_sweep(auto_name(desc.replace(" ", "-"), cells), cells, runs_dir or Path(folder), workers=0,
                             keep_models=lambda cell: cell.key["row"] in keep_models)
    broken = [o for o in outcomes if o.status not in ("finished", "diverged")]
    if broken:
        raise RuntimeError(f"{len(broken)} run(s) did not finish: " + "; ".join(
            f"{o.cell.label} seed {o.cell.config.seed}: {o.status} {o.error or (o.result.failure or {}).get('message', '')}"
            for o in broken))
    out: dict[str, list[RunResult]] = {}
    for o in outcomes:
        out.setdefault(o.cell.key["row"], []).append(o.result)
    return out


def task_models(result: RunResult, runs_dir: Path) -> tuple[list[IncrementalNet], Scenario]:
    """A stored run's model after each task (in eval mode, on the CPU) and its scenario, for a run
    kept with keep_models whose method leaves the built model's shape as it is (not DLCFT's)."""
    from labkit.experiment.checkpointed_run import model_from_task_state

    config = RunConfig.from_dict(result.config)
    scenario = config_scenario(config, load_dataset(config.dataset, config.data_root))
    states = RunDir(Path(runs_dir) / result.run_id).task_models()
    return [model_from_task_state(config, scenario, state) for state in states], scenario


def notebook_runs_dir(quick: bool) -> Path:
    """Where a notebook stores its runs: in the default mode the checkout's data/runs (or
    $LABKIT_RUNS_DIR), so opening it again reads them back; in quick mode (the tests) a fresh
    temporary folder, removed when the kernel exits, so every smoke run trains afresh."""
    if quick:
        folder = Path(tempfile.mkdtemp(prefix="labkit-notebook-runs-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder
    import labkit

    return Path(os.environ.get("LABKIT_RUNS_DIR") or Path(labkit.__file__).resolve().parents[1] / "data" / "runs")
