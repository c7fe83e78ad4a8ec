"""The command line's single runs: `run` (or `run --resume`), `runs` (what is stored), `show` (one
stored run) and `demo` (the kit's main comparison on digits): each run stored in its folder with a
progress bar, printed as its accuracy matrix and metrics, and ended with an exit code that says
how it ended (0 finished, 3 diverged)."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from labkit.analysis.counted import left_out, left_out_text
from labkit.analysis.frames import runs_frame
from labkit.cli.config_flags import config_from, given_fields
from labkit.cli.option_values import check_csv
from labkit.config import RunConfig
from labkit.experiment.metrics import KIND_NAMES, natural_kind
from labkit.experiment.result import RunResult
from labkit.experiment.runner import run
from labkit.experiment.store import RunDir, list_runs
from labkit.errors import ConfigError, StoreError
from labkit.experiment.outcome import status_text
from labkit.views import report
from labkit.views.progress import ProgressBar

DEMO_METHODS = ("finetune", "lwf", "ewc", "joint")
DEMO_CONFIG = RunConfig(dataset="digits", scenario="class-il", tasks=5, backbone="mlp", epochs=10,
                        batch_size=32, lr=0.05, seed=0)


def run_and_store(config: RunConfig, runs_dir: Path, run_dir: RunDir | None = None) -> tuple[RunDir, RunResult]:
    """Run `config` into a new run folder (or resume `run_dir`) with a progress bar. A new folder
    refused for bad input (ConfigError, e.g. dataset files missing) before any task ran is removed
    again; one whose files could not be written (StoreError) is left as it is, as the error says."""
    config.validate()  # refuse bad input before a folder is made
    fresh = run_dir is None
    run_dir = run_dir or RunDir.create(config.to_dict(), runs_dir)
    bar = ProgressBar(config, f"{config.method} {run_dir.run_id[-6:]}")
    try:
        return run_dir, run(config, bar, run_dir=run_dir)
    except ConfigError:
        if fresh and run_dir.result() is None:
            shutil.rmtree(run_dir.path)
        raise
    finally:
        bar.close()


def print_result(run_id: str, result: RunResult) -> None:
    kind = natural_kind(result.config["scenario"])
    name = KIND_NAMES[kind]
    c = result.config
    print(f"\n{c['method']} on {c['dataset']} {c['scenario']}, {c['tasks']} tasks, loss {c['loss']} "
          f"[{run_id}] {status_text(result)}")
    if result.tasks_done:
        print(f"accuracy matrix ({name}, %):\n{report.matrix_table(result, kind)}")
        print(report.summary_line(result, kind))


def outcome_code(run_id: str, result: RunResult) -> int:
    """0 for a finished run; for a diverged one, one line on stderr and 3."""
    if result.status != "diverged":
        return 0
    print(f"error: run {run_id} {status_text(result)}; its {result.tasks_done} completed task(s) are kept",
          file=sys.stderr)
    return 3


def cmd_run(args: argparse.Namespace) -> int:
    given = given_fields(args)
    if args.resume is not None:
        if given or args.param or args.preset or args.config:
            raise ConfigError("resume", args.resume, "--resume takes the stored config; give no other run options")
        run_dir = RunDir.open(args.resume, args.runs_dir)
        config = RunConfig.from_dict(run_dir.config())
    else:
        config, run_dir = config_from(args), None
    run_dir, result = run_and_store(config, args.runs_dir, run_dir)
    print_result(run_dir.run_id, result)
    print(f"stored in {run_dir.path}")
    return outcome_code(run_dir.run_id, result)


def diverged_code(results: dict[str, list[RunResult]]) -> int:
    """0 when every run counts (labkit.analysis.counted); else one line on stderr naming the ones left out, and
    3 when they all diverged (an outcome), 1 when one failed or stopped."""
    runs = [r for rs in results.values() for r in rs]
    if not left_out(runs):
        return 0
    print(f"error: {left_out_text(runs)} of {len(runs)} runs (marked so above; means leave them out)", file=sys.stderr)
    return 3 if set(left_out(runs)) == {"diverged"} else 1


def cmd_runs(args: argparse.Namespace) -> None:
    """One line per stored run; a run whose files are damaged (StoreError) is named with what is
    wrong ("unreadable: ..."), and the listing goes on: the exit code stays 0, the listing itself
    having worked. With --csv, the runs as rows (runs_frame) written to that file, checked before
    anything is read."""
    check_csv(args.csv)
    runs = list_runs(args.runs_dir)
    if not runs:
        print(f"no runs stored in {args.runs_dir}")
    for r in runs:
        try:
            print(run_line(r))
        except StoreError as error:
            print(f"{r.run_id:<48} unreadable: {error.valid}")
    if args.csv is not None:
        frame = runs_frame(args.runs_dir)
        frame.to_csv(args.csv, index=False)
        print(f"{len(frame)} runs written to {args.csv}" + (f" (left out, unreadable: {', '.join(frame.attrs['left_out'])})"
                                                               if frame.attrs["left_out"] else ""))


def run_line(r: RunDir) -> str:
    """A stored run's line in `runs`; StoreError when its files are damaged."""
    c, res = r.config(), r.result()
    done = res.tasks_done if res else 0
    if res is None or res.status == "running":
        state = f"{done}/{c['tasks']} tasks" + (", running" if r.is_being_written() else "")
    else:
        state = res.status if res.status == "finished" else f"{res.status} ({done}/{c['tasks']} tasks)"
    acc = res.summary(natural_kind(c["scenario"]))["final_average_accuracy"] if res and done else None
    return (f"{r.run_id:<48} {c['method']:<9} {c['scenario']:<9} {state:<24} "
            f"{'' if acc is None else f'avg acc {100 * acc:.1f}%'}")


def cmd_show(args: argparse.Namespace) -> int:
    r = RunDir.open(args.run_id, args.runs_dir)
    r.config()  # a damaged config is reported before anything else
    result = r.result()
    if result is None:
        print(f"{r.run_id}: no task completed yet" + (" (running)" if r.is_being_written() else ""))
        return 0
    print_result(r.run_id, result)
    return outcome_code(r.run_id, result)


def cmd_demo(args: argparse.Namespace) -> int:
    """Fine-tuning vs LwF vs EWC vs joint on digits, 5 class-incremental tasks."""
    config = DEMO_CONFIG.replace(epochs=args.epochs, seed=args.seed)
    results = {}
    for name in DEMO_METHODS:
        run_dir, results[name] = run_and_store(config.replace(method=name), args.runs_dir)
        print_result(run_dir.run_id, results[name])
    for kind, name in KIND_NAMES.items():
        print(f"\nclass-incremental digits, {config.tasks} tasks, {name} accuracy (%):")
        print(report.comparison_table(results, kind))
    print("\nTask-agnostic accuracy collapses to the last task for every method but joint: without old\n"
          "data, softmax lets the new head's logits outgrow the old ones (notebook 01 studies why).\n"
          "Task-aware accuracy shows what LwF and EWC keep inside each old head.")
    return diverged_code({name: [result] for name, result in results.items()})


def add_commands(sub, add_config_args) -> None:
    """The `run`, `runs`, `show` and `demo` sub-commands."""
    p_run = sub.add_parser("run", help="run one experiment and store it")
    add_config_args(p_run)
    p_run.add_argument("--resume", metavar="RUN_ID", help="continue a stored run after its last completed task")
    p_run.set_defaults(func=cmd_run)
    p_runs = sub.add_parser("runs", help="stored runs")
    p_runs.add_argument("--csv", type=Path, help="also write one row per run (config, status, metrics, sweep and "
                                                 "cell: labkit.analysis.frames.runs_frame) as CSV to this file")
    p_runs.set_defaults(func=cmd_runs)
    p_show = sub.add_parser("show", help="a stored run's matrix and metrics")
    p_show.add_argument("run_id")
    p_show.set_defaults(func=cmd_show)
    p_demo = sub.add_parser("demo", help="fine-tuning vs LwF vs EWC vs joint on digits")
    p_demo.add_argument("--epochs", type=int, default=DEMO_CONFIG.epochs)
    p_demo.add_argument("--seed", type=int, default=DEMO_CONFIG.seed)
    p_demo.set_defaults(func=cmd_demo)
