"""The command line's grids: `sweep` (any grid), `table` (methods x seeds), `compare` (a named
comparison x seeds) and `tune` (a hyper-parameter search on Ray Tune, labkit.sweep.search). The
first three build cells and run them through one loop (labkit.sweep.execute),
so each is stored, resumable and on Ray alike; re-running one with the same options reads its
stored runs and prints at once."""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from labkit.analysis import effects, tables
from labkit.analysis.multiplicity import multiplicity_note
from labkit.analysis.counted import run_of
from labkit.cli.config_flags import config_from
from labkit.cli.option_values import check_csv, parse_names, parse_seeds, real_number, whole_number
from labkit.data import DATASETS
from labkit.experiment import pretrain
from labkit.experiment.metrics import KIND_ABBREVIATIONS, natural_kind
from labkit.methods import METHODS
from labkit.protocols import comparisons
from labkit.errors import ConfigError, StoreError
from labkit.sweep.execute import CellOutcome, run_sweep, standing_outcomes, stored_outcomes
from labkit.sweep.grid import MAX_CELLS, Cell, check_max_cells, grid_cells, parse_axis, parse_grid, typed_params
from labkit.sweep.record import SweepRecord, auto_name, list_sweeps
from labkit.sweep.search import DEFAULT_VAL_FRACTION, Trial, run_search
from labkit.experiment.outcome import status_text


class SweepStopped(KeyboardInterrupt):
    """Ctrl-C during a sweep, with the command that resumes it."""


def add_execution_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=whole_number, default=None,
                        help="CPUs of the local Ray (default: all of this machine's); 0 runs the cells one after "
                             "another in this process, without Ray")
    parser.add_argument("--address", default=None,
                        help="join a running Ray cluster instead: auto, or ray://HOST:PORT (runs-dir must be a "
                             "folder every node sees)")
    parser.add_argument("--cpus-per-run", type=whole_number, default=1,
                        help="CPUs and torch threads per run (default 1)")
    parser.add_argument("--gpus-per-run", type=real_number, default=None,
                        help="fraction of a GPU each run reserves (default 0.25 where there are GPUs, else 0)")


def add_attempt_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell-timeout", type=real_number, default=None, metavar="SECONDS",
                        help="on Ray: stop a cell that runs longer and record it failed (timed out)")
    parser.add_argument("--retries", type=whole_number, default=0,
                        help="on Ray: start a cell whose worker died or timed out again, up to this many times; it "
                             "resumes after its last completed task (default 0)")


def _execute(name: str, cells: list[Cell], args: argparse.Namespace) -> list[CellOutcome]:
    try:
        return run_sweep(name, cells, args.runs_dir, workers=args.workers, address=args.address,
                         cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                         cell_timeout=args.cell_timeout, retries=args.retries)
    except KeyboardInterrupt:
        raise SweepStopped(f"the finished cells are kept; `python -m labkit --runs-dir {args.runs_dir} sweep {name}` "
                           "resumes the others") from None


def outcomes_code(outcomes: list[CellOutcome]) -> int:
    """0 when every cell finished; else one line on stderr per cell that did not: 1 when a run
    failed (its error is in its run folder), else 4 when cells are running in another process
    (left alone, not in the table yet: the same command once they end shows them), else 3 for
    diverged runs (an outcome, in the table)."""
    elsewhere = [o for o in outcomes if o.elsewhere]
    failed = [o for o in outcomes if o.status not in ("finished", "diverged") and not o.elsewhere]
    diverged = [o for o in outcomes if o.status == "diverged"]
    for o in diverged + failed:
        text = o.error or status_text(o.result)
        print(f"error: {o.cell.label} seed {o.cell.config.seed}: {text} [{o.run_id}]", file=sys.stderr)
    for o in elsewhere:
        print(f"note: {o.cell.label} seed {o.cell.config.seed}: running in another process, left alone "
              f"[{o.run_id}]", file=sys.stderr)
    if diverged:
        print(f"error: {len(diverged)} of {len(outcomes)} runs diverged (marked so above; means leave them out)",
              file=sys.stderr)
    if elsewhere:
        print(f"note: {len(elsewhere)} of {len(outcomes)} runs are running in another process; the same command "
              "once they end shows them in the table", file=sys.stderr)
    return 1 if failed else 4 if elsewhere else 3 if diverged else 0


def print_effects(outcomes: list[CellOutcome], baseline: dict | None, metrics: tuple[str, ...],
                  csv_path: Path | None) -> None:
    rows = effects.effect_rows(outcomes, baseline, metrics)
    print(effects.markdown(rows, metrics))
    if any(r["vs"] for r in rows):
        print(f"Δ: paired by seed against {', '.join(f'{k}={v}' for k, v in baseline.items())}, in points, "
              "[95% interval], seeds where it is positive; n.s.: the interval holds 0 (not separated)")
        note = multiplicity_note([d for r in rows for d in r["vs"].values()])
        if note:
            print(note)
    if csv_path is not None:
        effects.to_csv(rows, metrics, csv_path)
        print(f"written to {csv_path}")


def parse_baseline(text: str | None, cells: list[Cell] | None = None) -> dict | None:
    """--baseline KEY=VALUE -> {KEY: VALUE}; with `cells`, refused unless it names a group of
    theirs (KEY one of the grid's keys besides seed, VALUE one of its values)."""
    if text is None:
        return None
    try:
        key, values = parse_axis(text)
    except ConfigError:
        values = []
    if len(values) != 1:
        raise ConfigError("baseline", text, "one KEY=VALUE naming a group of the grid, e.g. method=lwf")
    if cells is not None:
        groups = list(dict.fromkeys(f"{k}={v}" for c in cells for k, v in c.key.items() if k != "seed"))
        if not any(c.key.get(key, object()) == values[0] and key != "seed" for c in cells):
            shown = ", ".join(groups[:12]) + (", ..." if len(groups) > 12 else "")
            raise ConfigError("baseline", text, f"one of the grid's groups: {shown}" if groups else
                              "nothing: this grid has no axis besides seed to compare against")
    return {key: values[0]}


def check_pretrained_files(cells: list[Cell]) -> None:
    """Every cell's --pretrained checkpoint file loadable and fitting its backbone and images (as
    the runner checks it, labkit.experiment.pretrain.pretrained_file_problem), before any folder is made; each
    distinct file, backbone and dataset once."""
    seen = set()
    for cell in cells:
        c = cell.config
        if c.pretrained in ("", "auto") or c.pretrained.startswith("auto:") or \
                (c.pretrained, c.backbone, c.dataset) in seen:
            continue
        seen.add((c.pretrained, c.backbone, c.dataset))
        problem = pretrain.pretrained_file_problem(c.pretrained, c.backbone, DATASETS.get(c.dataset).input_shape)
        if problem:
            raise ConfigError("pretrained", c.pretrained, f"a checkpoint made by `python -m labkit pretrain` for "
                              f"{c.backbone} on {c.dataset} ({cell.label}); {problem}")


def cmd_sweep(args: argparse.Namespace) -> int:
    """A grid over RunConfig fields and method parameters on top of the config the other options
    make; every cell checked before the first runs. Without --grid: the stored sweep NAME again
    (its unfinished cells resume, then its table)."""
    max_cells = check_max_cells(args.max_cells)
    if args.grid:
        cells = grid_cells(config_from(args), parse_grid(args.grid, max_cells), max_cells)
    else:
        cells = SweepRecord(args.name, args.runs_dir).stored_cells()
    baseline = parse_baseline(args.baseline, cells)
    check_csv(args.csv)
    check_pretrained_files(cells)
    if args.dry_run:
        return print_dry_run(args.name, cells, args.runs_dir)
    metrics = effects.FINAL_METRICS if args.finals else effects.TOTAL_METRICS
    outcomes = _execute(args.name, cells, args)
    print(f"sweep {args.name}: {len(cells)} runs stored in {args.runs_dir}")
    print_effects(outcomes, baseline, metrics, args.csv)
    return outcomes_code(outcomes)


def print_dry_run(name: str, cells: list[Cell], runs_dir: Path) -> int:
    """--dry-run: each cell with what a run would do to it (run, resume, keep), nothing run or written."""
    stored = {id(o.cell): o for o in standing_outcomes(name, cells, runs_dir)}
    print(f"sweep {name}: {len(cells)} cells (dry run: nothing is run or written)")
    print("| # | cell | seed | stored | would |")
    print("|---|---|---|---|---|")
    for n, cell in enumerate(cells, 1):
        o = stored[id(cell)]
        would = "keep" if o.status in ("finished", "diverged") else "leave (running elsewhere)" if o.elsewhere \
            else "run" if o.run_id is None else "resume"
        print(f"| {n} | {cell.label} | {cell.config.seed} | {o.status} | {would} |")
    return 0


def cmd_sweeps(args: argparse.Namespace) -> int:
    """Every stored sweep in the runs folder with its progress: cells by status."""
    names = list_sweeps(args.runs_dir)
    if not names:
        print(f"no sweeps stored in {args.runs_dir}")
        return 0
    print("| sweep | cells | done | finished | diverged | failed | running | stopped | pending |")
    print("|---|---|---|---|---|---|---|---|---|")
    damaged = 0
    for name in names:
        try:
            outcomes = stored_outcomes(name, args.runs_dir)
        except StoreError as error:
            print(f"| {name} | unreadable: {error} | | | | | | | |")
            damaged += 1
            continue
        count = collections.Counter(o.status for o in outcomes)
        done = count["finished"] + count["diverged"]
        print(f"| {name} | {len(outcomes)} | {done}/{len(outcomes)} | " + " | ".join(
            str(count[s]) for s in ("finished", "diverged", "failed", "running", "stopped", "pending")) + " |")
    return 2 if damaged else 0


def cmd_table(args: argparse.Namespace) -> int:
    """Methods x seeds: mean and spread of total average accuracy and forgetting (%), and each
    method's paired difference against the first. The lists and every cell are checked first."""
    methods_ = parse_names(args.methods, METHODS, "methods")
    seeds = parse_seeds(args.seeds, "seeds")
    base = config_from(args)
    cells = grid_cells(base, {"method": methods_, "seed": seeds})
    check_pretrained_files(cells)
    print(f"{base.dataset} {base.scenario}, {base.tasks} tasks, {base.backbone}, {base.epochs} epochs, "
          f"seeds {seeds}; totals over the accuracy matrix (TAw = task-aware, TAg = task-agnostic)")
    outcomes = _execute(auto_name("table", cells), cells, args)
    print_effects(outcomes, {"method": methods_[0]} if len(methods_) > 1 else None, effects.TOTAL_METRICS, None)
    return outcomes_code(outcomes)


def cmd_compare(args: argparse.Namespace) -> int:
    """A named comparison (methods each trained their own way) over seeds: final metrics over the
    runs that count (labkit.analysis.counted: finished), every other run named in the row's runs column.
    The seeds and every row's config are checked before the first run."""
    comparison = comparisons.COMPARISONS.get(args.name)
    seeds = parse_seeds(args.seeds, "seeds")
    changes = {k: v for k, v in (("epochs", args.epochs), ("device", args.device), ("data_root", args.data_root))
               if v is not None}
    cells = [Cell({"row": label, "seed": seed}, typed_params(config.replace(seed=seed).validate()))
             for label, config in comparison.configs(**changes).items() for seed in seeds]
    base = comparison.base.replace(**changes)
    print(f"{args.name}: {base.dataset} {base.scenario}, {base.tasks} tasks, {base.backbone}, {base.epochs} epochs, "
          f"pretrained {base.pretrained or 'no'}, seeds {seeds}")
    outcomes = _execute(auto_name(f"compare-{args.name}", cells), cells, args)
    by_row: dict[str, list] = {}
    for o in outcomes:
        by_row.setdefault(o.cell.key["row"], []).append(run_of(o))  # a cell with no result is named as failed
    print(tables.final_markdown(by_row))
    return outcomes_code(outcomes)


def search_table(trials: list[Trial], kind: str) -> str:
    """The trials, best validation score first, as Markdown; no test figure (it does not choose)."""
    lines = [f"| rank | values | status | val {KIND_ABBREVIATIONS[kind]} acc (%) | run |", "|---|---|---|---|---|"]
    for i, t in enumerate(trials, 1):
        score = "—" if t.score is None else f"{100 * t.score:.1f}"
        lines.append(f"| {i if t.score is not None else '—'} | {t.label} | {t.status} | {score} | {t.run_id or '—'} |")
    return "\n".join(lines)


def cmd_tune(args: argparse.Namespace) -> int:
    """A search over RunConfig fields and method parameters on Ray Tune; the trial with the best
    validation accuracy is selected, and only its test accuracy is printed."""
    base = config_from(args)
    kind = natural_kind(base.scenario)
    if not base.val_fraction:
        print(f"val_fraction {DEFAULT_VAL_FRACTION}: a search selects on a validation split of each task's "
              "training data (--val-fraction to change)")
    try:
        trials = run_search(args.name, base, args.search, args.runs_dir, samples=args.samples, seed=args.search_seed,
                            workers=args.workers, address=args.address, cpus_per_run=args.cpus_per_run,
                            gpus_per_run=args.gpus_per_run, verbose=0 if args.quiet else 1)
    except KeyboardInterrupt:
        raise SweepStopped("the finished trials are kept; the same command resumes the others") from None
    print(f"search {args.name}: {len(trials)} trials, {base.method} on {base.dataset} {base.scenario}, "
          f"selected on validation accuracy, never test")
    print(search_table(trials, kind))
    best = trials[0] if trials and trials[0].score is not None else None
    if best is None:
        print("error: no trial finished, nothing selected", file=sys.stderr)
        return 1
    test = best.result.summary(kind)["final_average_accuracy"]
    print(f"selected: {best.label} (validation {100 * best.score:.1f}%); its test {KIND_ABBREVIATIONS[kind]} final average "
          f"accuracy {100 * test:.1f}% [{best.run_id}]")
    unfinished = [t for t in trials if t.status != "finished"]
    for t in unfinished:
        print(f"error: trial {t.label}: {t.status} [{t.run_id or 'no run folder'}]", file=sys.stderr)
    return 0 if not unfinished else 3 if all(t.status == "diverged" for t in unfinished) else 1


def add_commands(sub, add_config_args) -> None:
    """The `sweep`, `table`, `compare` and `tune` sub-commands."""
    p_sweep = sub.add_parser("sweep", help="a grid of runs (fields, seeds, --param values) on Ray, stored and resumable")
    p_sweep.add_argument("name", help="the sweep's name; its record is RUNS_DIR/NAME.sweep.json")
    add_config_args(p_sweep)
    p_sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                         help="one axis of the grid: a RunConfig field or param.NAME, values comma-separated, "
                              "whole-number ranges as 0-9; repeat for more axes")
    p_sweep.add_argument("--baseline", metavar="KEY=VALUE", help="paired differences against this group, "
                                                                  "e.g. method=lwf")
    p_sweep.add_argument("--finals", action="store_true", help="final average accuracy and forgetting instead "
                                                               "of the totals over the matrix")
    p_sweep.add_argument("--csv", type=Path, help="also write the table as CSV to this file")
    p_sweep.add_argument("--max-cells", type=whole_number, default=MAX_CELLS,
                         help=f"refuse a grid of more cells than this (default {MAX_CELLS:,})")
    p_sweep.add_argument("--dry-run", action="store_true",
                         help="print the cells and what a run would do to each (run, resume, keep); run nothing")
    add_execution_args(p_sweep)
    add_attempt_args(p_sweep)
    p_sweep.set_defaults(func=cmd_sweep)
    sub.add_parser("sweeps", help="the stored sweeps with their progress (cells by status)").set_defaults(
        func=cmd_sweeps)
    p_table = sub.add_parser("table", help="several methods over several seeds: mean and spread of the totals")
    add_config_args(p_table)
    p_table.add_argument("--methods", required=True, help="comma-separated, e.g. lwf,lwf-s,lwf-bsr")
    p_table.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    add_execution_args(p_table)
    add_attempt_args(p_table)
    p_table.set_defaults(func=cmd_table)
    p_cmp = sub.add_parser("compare", help="a named comparison of methods over seeds (see `list`)")
    p_cmp.add_argument("name", help=f"one of: {', '.join(comparisons.COMPARISONS)}")
    p_cmp.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p_cmp.add_argument("--epochs", type=whole_number, help="epochs per task for every row (default: the comparison's)")
    p_cmp.add_argument("--device")
    p_cmp.add_argument("--data-root")
    add_execution_args(p_cmp)
    add_attempt_args(p_cmp)
    p_cmp.set_defaults(func=cmd_compare)
    p_tune = sub.add_parser("tune", help="a hyper-parameter search on Ray Tune, selecting on validation accuracy")
    p_tune.add_argument("name", help="the search's name; Tune's record is RUNS_DIR/.tune/NAME")
    add_config_args(p_tune)
    p_tune.add_argument("--search", action="append", default=[], metavar="KEY=DIST:LOW,HIGH",
                        help="one axis: a RunConfig field or param.NAME with loguniform:LOW,HIGH, uniform:LOW,HIGH, "
                             "randint:LOW,HIGH, choice:A,B or plain values A,B (a grid); repeat for more axes "
                             "(default: the method's float parameters, default/10 .. default*10)")
    p_tune.add_argument("--samples", type=whole_number, default=8, help="points drawn from the space (default 8)")
    p_tune.add_argument("--search-seed", type=whole_number, default=0, help="random seed of the draws (default 0)")
    p_tune.add_argument("--quiet", action="store_true", help="no Ray Tune status tables while it runs")
    add_execution_args(p_tune)
    p_tune.set_defaults(func=cmd_tune)
