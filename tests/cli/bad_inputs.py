"""A catalogue of bad inputs, and what labkit does with each.

    python tests/cli/bad_inputs.py

Three surfaces: (a) the command line, called in-process as `labkit.cli.main.main(argv)` with
--runs-dir a fresh temporary folder; (b) RunConfig(...).validate() and RunConfig.from_dict(...);
(c) the Streamlit app through streamlit.testing.v1.AppTest, LABKIT_RUNS_DIR a fresh temporary
folder, sidebar widgets set to bad values (Run, when enabled, makes the run folder as the app
does, after the app's own validation, but starts no process).

Each input ends as one of
  refused    a clear refusal: a message that names the field (`error: FIELD=...`, a LabkitError of
             that field: ConfigError for bad input, StoreError for a stored run or record that
             cannot be used; argparse's usage error naming the option; an error on the page)
  unclear    refused, but the message does not name the field
  traceback  any other exception (listed in full)
  hang       still going after CASE_LIMIT_S seconds of wall time (interrupted there)
  completed  accepted, wrongly: the run (or validate) went through
and the run folders a case leaves behind that hold no outcome (no result.json), or that a
refused case left at all, are counted as orphans, as is anything it wrote beside the runs folder
(outside it). Prints the counts and every traceback; run_catalogue() returns the outcomes
(tests/cli/test_bad_inputs.py asserts every input refused: no traceback, hang or orphan).
A run that a bad input would wrongly start is kept tiny (2 tasks, 1 epoch, CPU).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from labkit import RunConfig, RunDir, run  # noqa: E402
from labkit.app import background
from labkit.cli.main import main  # noqa: E402
from labkit.errors import LabkitError  # noqa: E402

TINY = ["--tasks", "2", "--epochs", "1", "--device", "cpu", "--knn-k", "0"]
KINDS = ("refused", "unclear", "traceback", "hang", "completed")
CASE_LIMIT_S = 120  # a case still going after this long is a hang (the slowest refusal takes ~20 s: Ray's start)


@dataclass
class Case:
    """One bad input: `attempt(runs_dir, work_dir, prepared)` returns (refused?, message) and may
    raise; `prepare(runs_dir, work_dir)`, run first, makes what the input refers to (files, runs)."""

    surface: str  # "cli", "config" or "app"
    label: str
    field: str  # what a clear refusal's message names
    attempt: Callable[[Path, Path, object], tuple[bool, str]]
    prepare: Callable[[Path, Path], object] | None = None


@dataclass
class Outcome:
    case: Case
    kind: str  # one of KINDS
    message: str
    orphans: int


# ---------------------------------------------------------------- (a) the command line


def cli(label: str, field: str, argv: list[str] | Callable[[Path, Path], list[str]], tiny: bool = True) -> Case:
    """`python -m labkit --runs-dir R argv...` in-process (argv, or what a function of the runs and
    work folders makes); refused when main returns 2 or argparse exits with its usage error
    (SystemExit 2). `tiny` puts TINY after `run` or `table` (the case's own options, coming
    later, win), so an input wrongly accepted runs for a second."""

    def attempt(runs_dir: Path, work: Path, prepared: object) -> tuple[bool, str]:
        args = list(prepared) if callable(argv) else list(argv)
        if tiny and args and args[0] in ("run", "table", "sweep", "tune"):
            args = [args[0], *TINY, *args[1:]]
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = main(["--runs-dir", str(runs_dir), *args])
            except SystemExit as exit_:  # argparse's own usage error
                code = exit_.code
        return code == 2, err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {code}"

    return Case("cli", label, field, attempt, argv if callable(argv) else None)


def not_a_checkpoint(runs_dir: Path, work: Path) -> list[str]:
    path = work / "notes.pt"
    path.write_text("not a checkpoint")
    return ["run", "--pretrained", str(path)]


def foreign_checkpoint(runs_dir: Path, work: Path) -> list[str]:
    path = work / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, path)  # a torch file, but no labkit checkpoint
    return ["run", "--pretrained", str(path)]


def interrupted_run(runs_dir: Path) -> RunDir:
    """A stored run stopped after its first task (as Ctrl-C leaves it)."""
    config = RunConfig(tasks=2, epochs=1, device="cpu", knn_k=0)
    run_dir = RunDir.create(config.to_dict(), runs_dir)

    def stop(event):
        if event.type == "task_evaluated":
            raise KeyboardInterrupt

    with contextlib.suppress(KeyboardInterrupt), contextlib.redirect_stderr(io.StringIO()):
        run(config, stop, run_dir=run_dir)
    return run_dir


def resume_without_checkpoint(runs_dir: Path, work: Path) -> list[str]:
    run_dir = interrupted_run(runs_dir)
    (run_dir.path / "checkpoint.pt").unlink()
    return ["run", "--resume", run_dir.run_id]


def resume_damaged_config(runs_dir: Path, work: Path) -> list[str]:
    run_dir = interrupted_run(runs_dir)
    (run_dir.path / "config.json").write_text('{"method": "finetune", "tasks": "many"')
    return ["run", "--resume", run_dir.run_id]


def resume_with_options(runs_dir: Path, work: Path) -> list[str]:
    return ["run", "--resume", interrupted_run(runs_dir).run_id, "--epochs", "3"]


def damaged(command: str, damage: Callable[[RunDir], None], run_done: bool = True) -> Callable[[Path, Path], list[str]]:
    """`command RUN_ID` (show, or run --resume) on a stored run damaged by `damage(run_dir)`: the
    run stopped after its first task (run_done) or a folder with no task done."""
    def prepare(runs_dir: Path, work: Path) -> list[str]:
        run_dir = interrupted_run(runs_dir) if run_done else RunDir.create(RunConfig(tasks=2, epochs=1).to_dict(),
                                                                           runs_dir)
        damage(run_dir)
        return [*command.split(), run_dir.run_id]
    return prepare


def edit_result(**fields) -> Callable[[RunDir], None]:
    """Overwrite fields of result.json (values may be functions of the stored result dict)."""
    def damage(run_dir: RunDir) -> None:
        path = run_dir.path / "result.json"
        stored = json.loads(path.read_text())
        stored.update({k: v(stored) if callable(v) else v for k, v in fields.items()})
        path.write_text(json.dumps(stored))
    return damage


def replace_with_folder(name: str) -> Callable[[RunDir], None]:
    def damage(run_dir: RunDir) -> None:
        (run_dir.path / name).unlink(missing_ok=True)
        (run_dir.path / name).mkdir()
    return damage


def append_event(line: str) -> Callable[[RunDir], None]:
    def damage(run_dir: RunDir) -> None:
        with open(run_dir.path / "events.jsonl", "a") as f:
            f.write(line + "\n")
    return damage


def checkpoint_result(**fields) -> Callable[[RunDir], None]:
    """Overwrite fields of the result the checkpoint holds."""
    def damage(run_dir: RunDir) -> None:
        state = torch.load(run_dir.path / "checkpoint.pt", weights_only=True)
        state["result"].update(fields)
        torch.save(state, run_dir.path / "checkpoint.pt")
    return damage


def damaged_record(cell: dict | None, text: str | None = None) -> Callable[[Path, Path], list[str]]:
    """`sweep d` on a record d.sweep.json holding one cell with `cell`'s fields over a valid cell's
    (or the raw `text`); a folder ../x beside the runs folder waits for a run id that points there."""
    def prepare(runs_dir: Path, work: Path) -> list[str]:
        if text is None:
            valid = {"key": {"seed": 0}, "config": RunConfig(tasks=2, epochs=1).to_dict(), "run_id": None}
            record = json.dumps({"name": "d", "cells": [{**valid, **cell}]})
        else:
            record = text
        (runs_dir / "d.sweep.json").write_text(record)
        return ["sweep", "d", "--workers", "0"]
    return prepare


def runs_dir_is_a_file(runs_dir: Path, work: Path) -> list[str]:
    path = work / "a-file"
    path.write_text("")
    return ["--runs-dir", str(path), "run", *TINY]  # the later --runs-dir wins


def pretrain(*options: str) -> Callable[[Path, Path], list[str]]:
    """`pretrain` on digits (1 epoch, mlp, cache under the work folder) with `options` on top."""
    return lambda runs_dir, work: ["pretrain", "--dataset", "digits", "--backbone", "mlp", "--epochs", "1",
                                   "--device", "cpu", "--data-root", str(work), *options]


RUN_OPTIONS = [  # (option, value, field named)
    ("--tasks", "0", "tasks"), ("--tasks", "11", "tasks"), ("--tasks", "-1", "tasks"), ("--tasks", "1.5", "--tasks"),
    ("--tasks", "two", "--tasks"), ("--epochs", "0", "epochs"), ("--epochs", "-5", "epochs"),
    ("--epochs", "10001", "epochs"), ("--batch-size", "0", "batch_size"), ("--batch-size", "2000000", "batch_size"),
    ("--lr", "0", "lr"), ("--lr", "-1", "lr"), ("--lr", "nan", "lr"), ("--lr", "inf", "lr"), ("--lr", "1e9", "lr"),
    ("--lr", "fast", "--lr"), ("--momentum", "1", "momentum"), ("--momentum", "-0.1", "momentum"),
    ("--momentum", "nan", "momentum"), ("--weight-decay", "-1", "weight_decay"),
    ("--weight-decay", "inf", "weight_decay"),
    ("--seed", "-1", "seed"), ("--seed", "4294967296", "seed"), ("--seed", "1.5", "--seed"),
    ("--val-fraction", "1", "val_fraction"), ("--val-fraction", "-0.1", "val_fraction"),
    ("--val-fraction", "nan", "val_fraction"), ("--lr-patience", "-1", "lr_patience"),
    ("--lr-patience", "2", "lr_patience"), ("--lr-factor", "1", "lr_factor"), ("--lr-factor", "nan", "lr_factor"),
    ("--lr-min", "-1", "lr_min"), ("--lr-min", "inf", "lr_min"), ("--knn-k", "-1", "knn_k"),
    ("--dataset", "nope", "dataset"), ("--dataset", "", "dataset"), ("--scenario", "domain-il", "scenario"),
    ("--method", "icarl", "method"), ("--loss", "hinge", "loss"), ("--backbone", "vit", "backbone"),
    ("--optimizer", "rmsprop", "optimizer"), ("--device", "tpu", "device"), ("--data-root", "", "data_root"),
    ("--pretrained", "/no/such/checkpoint.pt", "pretrained"), ("--pretrained", "auto:nope", "pretrained"),
    ("--amp", "maybe", "--amp"), ("--preset", "nope", "preset"),
]
RUN_COMBINATIONS = [  # (label, argv after `run`, field named)
    ("lwf with mse", ["--method", "lwf", "--loss", "mse"], "loss"),
    ("lwm on an mlp", ["--method", "lwm", "--backbone", "mlp"], "backbone"),
    ("data-il with more tasks than samples", ["--scenario", "data-il", "--tasks", "5000"], "tasks"),
    ("param without =", ["--param", "lamb"], "param"),
    ("param without key", ["--param", "=5"], "param"),
    ("param finetune does not take", ["--param", "lamb=1"], "method_params"),
    ("param given twice", ["--method", "lwf", "--param", "lamb=1", "--param", "lamb=2"], "param"),
    ("lwf T=0", ["--method", "lwf", "--param", "T=0"], "method_params.T"),
    ("lwf T=-1", ["--method", "lwf", "--param", "T=-1"], "method_params.T"),
    ("lwf T=nan", ["--method", "lwf", "--param", "T=nan"], "method_params.T"),
    ("lwf T=inf", ["--method", "lwf", "--param", "T=inf"], "method_params.T"),
    ("lwf lamb=-1", ["--method", "lwf", "--param", "lamb=-1"], "method_params.lamb"),
    ("lwf lamb=abc", ["--method", "lwf", "--param", "lamb=abc"], "method_params.lamb"),
    ("er buffer_size=-1", ["--method", "er", "--param", "buffer_size=-1"], "method_params.buffer_size"),
    ("er buffer_size=1.5", ["--method", "er", "--param", "buffer_size=1.5"], "method_params.buffer_size"),
    ("er buffer_size=10**9", ["--method", "er", "--param", "buffer_size=1000000000"], "method_params.buffer_size"),
    ("ewc lamb=nan", ["--method", "ewc", "--param", "lamb=nan"], "method_params.lamb"),
    ("ewc alpha=1.5", ["--method", "ewc", "--param", "alpha=1.5"], "method_params.alpha"),
    ("ewc fisher_labels=nope", ["--method", "ewc", "--param", "fisher_labels=nope"], "method_params.fisher_labels"),
    ("ewc fisher_labels=exact (its name before config_version 2)",
     ["--method", "ewc", "--param", "fisher_labels=exact"], "method_params.fisher_labels"),
    ("mas alpha=-0.1", ["--method", "mas", "--param", "alpha=-0.1"], "method_params.alpha"),
    ("der alpha=-1", ["--method", "der", "--param", "alpha=-1"], "method_params.alpha"),
    ("derpp beta=inf", ["--method", "derpp", "--param", "beta=inf"], "method_params.beta"),
    ("dlcft mc_samples=0", ["--method", "dlcft", "--loss", "mse", "--param", "mc_samples=0"],
     "method_params.mc_samples"),
    ("dlcft lamb=2", ["--method", "dlcft", "--loss", "mse", "--param", "lamb=2"], "method_params.lamb"),
    ("dlcft curvature=exact", ["--method", "dlcft", "--loss", "mse", "--param", "curvature=exact"],
     "method_params.curvature"),
    ("osla fisher_images=0", ["--method", "osla", "--param", "fisher_images=0"], "method_params.fisher_images"),
    ("lucir K=1.5", ["--method", "lucir", "--param", "K=1.5"], "method_params.K"),
    ("lucir margin=-1", ["--method", "lucir", "--param", "margin=-1"], "method_params.margin"),
    ("lucir-s per_class=-2", ["--method", "lucir-s", "--param", "per_class=-2"], "method_params.per_class"),
    ("lwm T=0", ["--method", "lwm", "--backbone", "cnn", "--param", "T=0"], "method_params.T"),
    ("a stratified validation split of 99.9%", ["--val-split", "stratified", "--val-fraction", "0.999"],
     "val_fraction"),
    ("data-IL with a stratified validation split of 99%",
     ["--scenario", "data-il", "--tasks", "5", "--val-split", "stratified", "--val-fraction", "0.99"], "val_fraction"),
    ("class order in Unicode digits", ["--class-order", "²,0,1,3,4,5,6,7,8,9"], "class_order"),
]
OTHER_COMMANDS = [  # (label, argv, field named)
    ("table --methods lwf,nope", ["table", "--methods", "lwf,nope"], "methods"),
    ("table --methods ''", ["table", "--methods", ""], "methods"),
    ("table --methods lwf,,ewc", ["table", "--methods", "lwf,,ewc"], "methods"),
    ("table --methods lwf,lwf", ["table", "--methods", "lwf,lwf"], "methods"),
    ("table without --methods", ["table"], "--methods"),
    ("table --seeds a,b", ["table", "--methods", "lwf", "--seeds", "a,b"], "seeds"),
    ("table --seeds ''", ["table", "--methods", "lwf", "--seeds", ""], "seeds"),
    ("table --seeds 1,,2", ["table", "--methods", "lwf", "--seeds", "1,,2"], "seeds"),
    ("table --seeds -1", ["table", "--methods", "lwf", "--seeds", "-1"], "seeds"),
    ("table --seeds 2**32", ["table", "--methods", "lwf", "--seeds", "4294967296"], "seeds"),
    ("table --seeds 1.5", ["table", "--methods", "lwf", "--seeds", "1.5"], "seeds"),
    ("table --epochs 0", ["table", "--methods", "lwf", "--epochs", "0"], "epochs"),
    ("table --param T=0", ["table", "--methods", "lwf,lwf-s", "--param", "T=0"], "method_params.T"),
    ("table --workers -1", ["table", "--methods", "lwf", "--workers", "-1"], "workers"),
    ("sweep ../x", ["sweep", "../x", "--grid", "seed=0"], "name"),
    ("sweep x.sweep.json", ["sweep", "x.sweep.json", "--grid", "seed=0"], "name"),
    ("sweep --grid methd=lwf", ["sweep", "s", "--grid", "methd=lwf"], "grid"),
    ("sweep --grid method=", ["sweep", "s", "--grid", "method="], "grid"),
    ("sweep --grid seed=3-1", ["sweep", "s", "--grid", "seed=3-1"], "grid[seed]"),
    ("sweep --grid seed=0,0", ["sweep", "s", "--grid", "seed=0,0"], "grid[seed]"),
    ("sweep --grid method=lwf,nope", ["sweep", "s", "--grid", "method=lwf,nope"], "method"),
    ("sweep --grid epochs=two", ["sweep", "s", "--grid", "epochs=two"], "epochs"),
    ("sweep --grid seed twice", ["sweep", "s", "--grid", "seed=0", "--grid", "seed=1"], "grid"),
    ("sweep ewc --grid param.lamb=-1", ["sweep", "s", "--method", "ewc", "--grid", "param.lamb=-1"],
     "method_params.lamb"),
    ("sweep --grid param.nope=1", ["sweep", "s", "--grid", "param.nope=1"], "method_params"),
    ("sweep unknown name, no grid", ["sweep", "never-made"], "name"),
    ("sweep --baseline method", ["sweep", "s", "--grid", "seed=0", "--baseline", "method"], "baseline"),
    ("sweep --workers -1", ["sweep", "s", "--grid", "seed=0", "--workers", "-1"], "workers"),
    ("sweep --cpus-per-run 0", ["sweep", "s", "--grid", "seed=0", "--cpus-per-run", "0"], "cpus_per_run"),
    ("sweep --gpus-per-run 2", ["sweep", "s", "--grid", "seed=0", "--gpus-per-run", "2"], "gpus_per_run"),
    ("run --config missing.json", ["run", "--config", "/nonexistent/config.json"], "config"),
    ("run --config x.yaml", ["run", "--config", "/nonexistent/config.yaml"], "config"),
    ("reproduce nope", ["reproduce", "nope"], "paper"),
    ("reproduce --workers -1", ["reproduce", "--workers", "-1"], "workers"),
    ("reproduce --cpus-per-run 0", ["reproduce", "softmax-family", "dlcft", "--cpus-per-run", "0"], "cpus_per_run"),
    ("reproduce --csv in a missing folder", ["reproduce", "--csv", "/nonexistent/dir/x.csv"], "csv"),
    ("tune ../x", ["tune", "../x", "--method", "ewc"], "name"),
    ("tune --search lamb=...", ["tune", "s", "--method", "ewc", "--search", "lamb=loguniform:1,10"], "search"),
    ("tune --search log of 0", ["tune", "s", "--method", "ewc", "--search", "param.lamb=loguniform:0,10"],
     "search[param.lamb]"),
    ("tune --search beyond bound", ["tune", "s", "--method", "ewc", "--search", "param.alpha=uniform:0.5,2"],
     "search[param.alpha]"),
    ("tune --search LOW > HIGH", ["tune", "s", "--method", "ewc", "--search", "param.lamb=uniform:10,1"],
     "search[param.lamb]"),
    ("tune --search epochs=randint:1,x", ["tune", "s", "--search", "epochs=randint:1,x"], "search[epochs]"),
    ("tune --search twice", ["tune", "s", "--method", "ewc", "--search", "lr=0.1,0.01", "--search", "lr=0.2"],
     "search"),
    ("tune finetune, no --search", ["tune", "s"], "search"),
    ("tune --samples 0", ["tune", "s", "--method", "ewc", "--samples", "0"], "samples"),
    ("tune --workers 0", ["tune", "s", "--method", "ewc", "--workers", "0"], "workers"),
    ("tune --cpus-per-run 0", ["tune", "s", "--method", "ewc", "--cpus-per-run", "0"], "cpus_per_run"),
    ("compare nope", ["compare", "nope"], "comparison"),
    ("compare --epochs 0", ["compare", "dlcft-digits-class-il", "--epochs", "0", "--seeds", "0"], "epochs"),
    ("compare --epochs -1", ["compare", "dlcft-digits-class-il", "--epochs", "-1", "--seeds", "0"], "epochs"),
    ("compare --epochs 10001", ["compare", "dlcft-digits-class-il", "--epochs", "10001", "--seeds", "0"], "epochs"),
    ("compare --seeds x", ["compare", "dlcft-digits-class-il", "--epochs", "1", "--seeds", "x"], "seeds"),
    ("compare --seeds ''", ["compare", "dlcft-digits-class-il", "--epochs", "1", "--seeds", ""], "seeds"),
    ("compare --device tpu", ["compare", "dlcft-digits-class-il", "--epochs", "1", "--seeds", "0", "--device", "tpu"],
     "device"),
    ("compare --data-root ''", ["compare", "dlcft-digits-class-il", "--epochs", "1", "--seeds", "0", "--data-root", ""],
     "data_root"),
    ("sweep --grid seed=²-³ (Unicode digits)", ["sweep", "s", "--grid", "seed=²-³"], "grid[seed]"),
    ("sweep --grid seed=0-4294967295 (too many cells)", ["sweep", "s", "--grid", "seed=0-4294967295"], "grid"),
    ("sweep --csv in a missing folder", ["sweep", "s", "--grid", "seed=0", "--csv", "/nonexistent/dir/x.csv"], "csv"),
    ("sweep --grid pretrained=/etc/passwd", ["sweep", "s", "--grid", "pretrained=/etc/passwd"], "pretrained"),
    ("sweep --baseline naming no group", ["sweep", "s", "--grid", "method=lwf,ewc", "--baseline", "method=nope"],
     "baseline"),
    ("sweep --gpus-per-run 0.5 without a GPU", ["sweep", "s", "--grid", "seed=0", "--gpus-per-run", "0.5"],
     "gpus_per_run"),
    ("sweep --cpus-per-run beyond the machine", ["sweep", "s", "--grid", "seed=0", "--cpus-per-run", "512"],
     "cpus_per_run"),
    ("sweep --address that does not answer", ["sweep", "s", "--grid", "seed=0", "--address", "127.0.0.1:1"],
     "address"),
    ("sweep --address ray:// that does not answer", ["sweep", "s", "--grid", "seed=0", "--address",
                                                     "ray://127.0.0.1:1"], "address"),
    ("sweep --address nonsense", ["sweep", "s", "--grid", "seed=0", "--address", "nonsense"], "address"),
    ("sweep --grid seed=٣ (an Arabic-Indic digit)", ["sweep", "s", "--grid", "seed=٣"], "seed"),
    ("sweep --seed ١ (an Arabic-Indic digit)", ["sweep", "s", "--grid", "seed=0", "--seed", "١"], "--seed"),
    ("table --seeds 0,١", ["table", "--methods", "lwf", "--seeds", "0,١"], "seeds"),
    ("sweep whose product of axes is over the limit",
     ["sweep", "s", "--grid", "seed=0-99", "--grid", "lr=0.1,0.2,0.3,0.4", "--grid", "epochs=1-30"], "grid"),
    ("sweep --max-cells 0", ["sweep", "s", "--grid", "seed=0", "--max-cells", "0"], "max_cells"),
    ("sweep --csv a folder", ["sweep", "s", "--grid", "seed=0", "--csv", "."], "csv"),
    ("table --pretrained /etc/passwd", ["table", "--methods", "lwf", "--pretrained", "/etc/passwd"], "pretrained"),
    ("sweep --baseline seed=0", ["sweep", "s", "--grid", "seed=0,1", "--baseline", "seed=0"], "baseline"),
    ("sweep of a damaged record: run_id ../x", damaged_record({"run_id": "../x"}), "name"),
    ("sweep of a damaged record: a key that is a string", damaged_record({"key": "s"}), "name"),
    ("sweep of a damaged record: a key that is null", damaged_record({"key": None}), "name"),
    ("sweep of a damaged record: a config that is a list", damaged_record({"config": []}), "name"),
    ("sweep of a damaged record: a run_id that is a number", damaged_record({"run_id": 3}), "name"),
    ("sweep of a damaged record: a config no longer valid", damaged_record({"config": {"tasks": "x"}}), "name"),
    ("sweep of a damaged record: not JSON", damaged_record(None, "{"), "name"),
    ("tune --search-seed -1", ["tune", "s", "--method", "ewc", "--search-seed", "-1"], "search_seed"),
    ("tune --samples -3", ["tune", "s", "--method", "ewc", "--samples", "-3"], "samples"),
    ("show nope", ["show", "nope"], "run_id"),
    ("show a 300-character id", ["show", "x" * 300], "run_id"),
    ("show ../..", ["show", "../.."], "run_id"),
    ("show ''", ["show", ""], "run_id"),
    ("demo --epochs 0", ["demo", "--epochs", "0"], "epochs"),
    ("demo --seed -1", ["demo", "--seed", "-1"], "seed"),
    ("no command", [], "command"),
    ("unknown command", ["train"], "command"),
    ("pretrain --batch-size 0", pretrain("--batch-size", "0"), "batch_size"),
    ("pretrain --lr nan", pretrain("--lr", "nan"), "lr"),
    ("pretrain --lr -1", pretrain("--lr", "-1"), "lr"),
    ("pretrain --epochs 0", pretrain("--epochs", "0"), "epochs"),
    ("pretrain --epochs 100000 (run's cap is 10,000)", pretrain("--epochs", "100000"), "epochs"),
    ("pretrain --epochs 10001 (one over the cap)", pretrain("--epochs", "10001"), "epochs"),
    ("pretrain --data-root ''", pretrain("--data-root", ""), "data_root"),
    ("pretrain --holdout 1.5", pretrain("--holdout", "1.5"), "holdout"),
    ("pretrain --holdout nan", pretrain("--holdout", "nan"), "holdout"),
    ("pretrain --dataset nope", pretrain("--dataset", "nope"), "dataset"),
    ("pretrain --backbone vit", pretrain("--backbone", "vit"), "backbone"),
    ("pretrain --device tpu", pretrain("--device", "tpu"), "--device"),
    ("run --pretrained a text file", not_a_checkpoint, "pretrained"),
    ("run --pretrained a torch file that is no labkit checkpoint", foreign_checkpoint, "pretrained"),
    ("--runs-dir is a file", runs_dir_is_a_file, "runs_dir"),
]
RESUME = [  # (label, argv, field named): the stored config, so no TINY options
    ("run --resume nope", ["run", "--resume", "nope"], "run_id"),
    ("run --resume ../x", ["run", "--resume", "../x"], "run_id"),
    ("run --resume of a run whose checkpoint was deleted", resume_without_checkpoint, "resume"),
    ("run --resume of a run whose config.json is damaged", resume_damaged_config, "run"),
    ("run --resume with other options", resume_with_options, "resume"),
    ("run --resume of a ragged result.json (one row of three)", damaged("run --resume", edit_result(
        acc_taw=[[.5, .5, .5]])), "run"),
    ("run --resume of a result.json that disagrees with its checkpoint", damaged("run --resume", edit_result(
        acc_taw=lambda r: [[0.123] * len(row) for row in r["acc_taw"]])), "resume"),
    ("run --resume of a checkpoint holding a ragged result", damaged("run --resume", checkpoint_result(
        acc_taw=[[.5, .5], [.5]])), "resume"),
    ("run --resume of a run whose events.jsonl is a folder", damaged("run --resume", replace_with_folder(
        "events.jsonl")), "run"),
    ("run --resume of a run whose events.jsonl holds [1, 2]", damaged("run --resume", append_event("[1, 2]")), "run"),
    ("run --resume of a run whose lock is a folder", damaged("run --resume", replace_with_folder("lock")), "run"),
    ("show of a ragged result.json (one row of three)", damaged("show", edit_result(acc_taw=[[.5, .5, .5]])), "run"),
    ("show of a result.json with rows of strings", damaged("show", edit_result(acc_taw=[["a"]])), "run"),
    ("show of a result.json whose acc_tag has no row", damaged("show", edit_result(acc_tag=[])), "run"),
    ("show of a result.json with an accuracy of 1.5", damaged("show", edit_result(acc_taw=[[1.5]])), "run"),
    ("show of a result.json whose run_id is a number", damaged("show", edit_result(run_id=5)), "run"),
    ("show of a result.json whose config is {}", damaged("show", edit_result(config={})), "run"),
    ("show of a result.json listing more tasks than its config", damaged("show", edit_result(
        acc_taw=[[.5], [.5, .5], [.5, .5, .5]], acc_tag=[[.5], [.5, .5], [.5, .5, .5]])), "run"),
    ("show of a run with no task done whose lock is a folder", damaged("show", replace_with_folder("lock"),
                                                                        run_done=False), "run"),
    ("show a 256-byte id (128 x é)", ["show", "é" * 128], "run_id"),
]


def cli_cases() -> list[Case]:
    cases = [cli(f"run {option} {value!r}", field, ["run", option, value]) for option, value, field in RUN_OPTIONS]
    cases += [cli(f"run: {label}", field, ["run", *argv]) for label, argv, field in RUN_COMBINATIONS]
    cases += [cli(label, field, argv, tiny=False) for label, argv, field in RESUME]
    return cases + [cli(label, field, argv) for label, argv, field in OTHER_COMMANDS]


# ---------------------------------------------------------------- (b) RunConfig


def config(label: str, field: str, make: Callable[[], RunConfig]) -> Case:
    """Refused when building and validating the config raises a LabkitError (a ConfigError, or a
    StoreError: either names its field)."""

    def attempt(runs_dir: Path, work: Path, prepared: object) -> tuple[bool, str]:
        try:
            make().validate()
        except LabkitError as error:
            return True, f"{error.field}: {error}"
        return False, "accepted"

    return Case("config", label, field, attempt)


CONFIG_VALUES = [  # (field, bad value)
    ("dataset", 5), ("dataset", None), ("dataset", ["digits"]), ("scenario", {"kind": "class-il"}),
    ("method", 3.0), ("loss", b"ce"), ("backbone", ""), ("optimizer", None), ("device", 0),
    ("tasks", True), ("tasks", 2.0), ("tasks", "5"), ("tasks", 10**30), ("epochs", None), ("epochs", float("inf")),
    ("batch_size", -32), ("lr", "0.1"), ("lr", float("nan")), ("lr", float("-inf")), ("lr", 10**400),
    ("momentum", True), ("momentum", 1.5), ("weight_decay", float("nan")), ("weight_decay", 1e300),
    ("seed", -1), ("seed", 2**40), ("seed", 1.0), ("seed", "0"), ("val_fraction", 1.0), ("val_fraction", None),
    ("lr_patience", 1.5), ("lr_factor", 0.5), ("lr_factor", float("inf")), ("lr_min", -1e-9),
    ("knn_k", -1), ("knn_k", "10"), ("freeze_old_heads", "yes"), ("augment", 1), ("amp", None),
    ("channels_last", "False"), ("compile", 0), ("data_root", 3), ("data_root", ""), ("data_root", "a\0b"),
    ("pretrained", None), ("pretrained", 0), ("pretrained", "auto:nope"), ("pretrained", "/no/such.pt"),
    ("method_params", "x"), ("method_params", None), ("method_params", {1: 2}), ("method_params", ["lamb"]),
    ("class_order", "random"), ("class_order", "1,2,3"), ("class_order", "0,0,1,2,3,4,5,6,7,8"),
    ("class_order", 7), ("val_split", "per-class"), ("val_split", None), ("head_layout", "one"),
    ("track_curvature", "yes"), ("log", "wandb"), ("log", 1), ("log", None),
]
CONFIG_COMBINATIONS = [  # (label, field named, RunConfig fields)
    ("all-classes in task-IL", "scenario", dict(head_layout="all-classes", scenario="task-il")),
    ("all-classes with lwf", "method", dict(head_layout="all-classes", method="lwf")),
    ("lwf T=nan", "method_params.T", dict(method="lwf", method_params={"T": float("nan")})),
    ("lwf T=0", "method_params.T", dict(method="lwf", method_params={"T": 0})),
    ("er buffer_size=-1", "method_params.buffer_size", dict(method="er", method_params={"buffer_size": -1})),
    ("er buffer_size=2.5", "method_params.buffer_size", dict(method="er", method_params={"buffer_size": 2.5})),
    ("ewc lamb=None", "method_params.lamb", dict(method="ewc", method_params={"lamb": None})),
    ("ewc lamb=[1]", "method_params.lamb", dict(method="ewc", method_params={"lamb": [1]})),
    ("ewc fisher_labels=1", "method_params.fisher_labels", dict(method="ewc", method_params={"fisher_labels": 1})),
    ("lucir K=True", "method_params.K", dict(method="lucir", method_params={"K": True})),
    ("dlcft lamb=-0.5", "method_params.lamb", dict(method="dlcft", loss="mse", method_params={"lamb": -0.5})),
    ("lr_patience without a validation split", "lr_patience", dict(lr_patience=3)),
    ("config_version=1 (from_dict reads it, not RunConfig)", "config_version", dict(config_version=1)),
]
FROM_DICT = [  # (label, field named, what from_dict gets)
    ("from_dict(None)", "config", None), ("from_dict([])", "config", []), ("from_dict('digits')", "config", "digits"),
    ("from_dict({1: 2})", "config", {1: 2}), ("from_dict unknown field", "colour", {"colour": "red"}),
    ("from_dict tasks='5'", "tasks", {"tasks": "5"}), ("from_dict lr=None", "lr", {"lr": None}),
    ("from_dict method_params=[]", "method_params", {"method_params": []}),
    ("from_dict config_version=3 (newer than this labkit)", "config_version", {"config_version": 3}),
]


def config_cases() -> list[Case]:
    cases = [config(f"RunConfig({name}={value!r})"[:80], name, lambda n=name, v=value: RunConfig(**{n: v}))
             for name, value in CONFIG_VALUES]
    cases += [config(f"RunConfig: {label}", field, lambda kw=kw: RunConfig(**kw))
              for label, field, kw in CONFIG_COMBINATIONS]
    return cases + [config(label, field, lambda d=d: RunConfig.from_dict(d)) for label, field, d in FROM_DICT]


# ---------------------------------------------------------------- (c) the Streamlit app


def app(label: str, field: str, method: str | None, widgets: dict[str, object]) -> Case:
    """The page with `method` chosen and number inputs set: refused when the page shows an error
    naming the field and Run is disabled (or, clicked, shows why the run was not started)."""

    def attempt(runs_dir: Path, work: Path, prepared: object) -> tuple[bool, str]:
        at = page(runs_dir).run()
        if method:
            at.sidebar.selectbox(key="method").set_value(method).run()
        for key, value in {"tasks": 2, "epochs": 1, **widgets}.items():
            at.sidebar.number_input(key=key.format(method=method or "finetune")).set_value(value)
        at.run()
        if not at.button(key="run").disabled:
            at.button(key="run").click().run()
        return page_verdict(at)

    return Case("app", label, field, attempt)


def page(runs_dir: Path):
    """The app as streamlit.testing sees it, storing runs in `runs_dir` (not run yet)."""
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    set_log_level("error")  # not the bare-mode warning on every script run
    os.environ["LABKIT_RUNS_DIR"] = str(runs_dir)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def page_verdict(at) -> tuple[bool, str]:
    """Refused when the page shows an error (their text); raises when the page itself raised."""
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception[0].message}\n{at.exception[0].stack_trace}")
    shown = [e.value for e in at.error]
    return bool(shown), " | ".join(shown) or "no error shown"


APP_WIDGETS = [  # (label, field named, method, number inputs)
    ("tasks 0", "tasks", None, {"tasks": 0}), ("tasks 11 (digits has 10 classes)", "tasks", None, {"tasks": 11}),
    ("tasks -3", "tasks", None, {"tasks": -3}), ("epochs 0", "epochs", None, {"epochs": 0}),
    ("epochs 10001", "epochs", None, {"epochs": 10001}), ("seed -1", "seed", None, {"seed": -1}),
    ("seed 2**32", "seed", None, {"seed": 2**32}), ("lr 0", "lr", None, {"lr:{method}": 0.0}),
    ("lr -1", "lr", None, {"lr:{method}": -1.0}), ("lr 1e6", "lr", None, {"lr:{method}": 1e6}),
    ("lwf T 0", "method_params.T", "lwf", {"param:lwf:T": 0.0}),
    ("lwf lamb -1", "method_params.lamb", "lwf", {"param:lwf:lamb": -1.0}),
    ("ewc alpha 1.5", "method_params.alpha", "ewc", {"param:ewc:alpha": 1.5}),
    ("ewc lamb -5", "method_params.lamb", "ewc", {"param:ewc:lamb": -5.0}),
    ("er buffer_size -1", "method_params.buffer_size", "er", {"param:er:buffer_size": -1}),
    ("der alpha -0.5", "method_params.alpha", "der", {"param:der:alpha": -0.5}),
    ("dlcft mc_samples 0", "method_params.mc_samples", "dlcft", {"param:dlcft:mc_samples": 0}),
    ("lucir K -1", "method_params.K", "lucir", {"param:lucir:K": -1}),
    ("mas alpha -0.1", "method_params.alpha", "mas", {"param:mas:alpha": -0.1}),
]


def app_url(label: str, field: str, params: dict[str, str]) -> Case:
    """The page opened with `params` in its URL (?run=..., ?race=...): refused when the page shows
    an error naming the parameter and raises nothing."""

    def attempt(runs_dir: Path, work: Path, prepared: object) -> tuple[bool, str]:
        at = page(runs_dir)
        for key, value in params.items():
            at.query_params[key] = value
        return page_verdict(at.run())

    return Case("app", label, field, attempt)


APP_URLS = [  # (label, field named, query parameters)
    ("?run=x%00y (a null byte)", "run", {"run": "x\0y"}),
    ("?run=../x", "run", {"run": "../x"}),
    ("?run= a 300-character id", "run", {"run": "x" * 300}),
]


def app_cases() -> list[Case]:
    return [app(f"app: {label}", field, method, widgets) for label, field, method, widgets in APP_WIDGETS] + \
        [app_url(f"app: {label}", field, params) for label, field, params in APP_URLS]


# ---------------------------------------------------------------- running the catalogue


def catalogue() -> list[Case]:
    return cli_cases() + config_cases() + app_cases()


@contextlib.contextmanager
def app_starts_no_process():
    """The app's Run: validate and make the run folder as background.start_background_run does, but
    start no process (an accepted bad input shows as a folder, counted as completed)."""
    real = background.start_background_run

    def start(config: RunConfig, runs_dir) -> RunDir:
        config.validate()
        return RunDir.create(config.to_dict(), Path(runs_dir))

    background.start_background_run = start
    try:
        yield
    finally:
        background.start_background_run = real


def names(message: str, field: str) -> bool:
    """Whether a refusal names the field: `field=value is not valid: ...` (any LabkitError, and so
    `error: ...` and the page's errors) or argparse's `argument FIELD: ...` / `required: FIELD`."""
    return any(text in message for text in (f"{field}=", f"argument {field}", f"required: {field}"))


def attempt_case(case: Case) -> Outcome:
    """Run one case in fresh runs and work folders; classify it and count its orphan folders."""
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir, work = Path(tmp) / "runs", Path(tmp) / "work"
        runs_dir.mkdir()
        work.mkdir()
        try:
            prepared = case.prepare(runs_dir, work) if case.prepare else None
        except Exception:  # the setup (a stored run, a file) failed: the case could not be tried
            return Outcome(case, "traceback", f"while preparing the case:\n{traceback.format_exc()}", 0)
        before, beside = set(runs_dir.iterdir()), set(Path(tmp).iterdir())
        try:
            with time_limit(CASE_LIMIT_S):
                refused, message = case.attempt(runs_dir, work, prepared)
            kind = ("refused" if names(message, case.field) else "unclear") if refused else "completed"
        except Hang:
            kind, message = "hang", f"still going after {CASE_LIMIT_S} s"
        except Exception:  # anything but a clean refusal or a completed run
            kind, message = "traceback", traceback.format_exc()
        made = [p for p in runs_dir.iterdir() if p not in before]
        orphans = sum(1 for p in made if kind != "completed" or not (p / "result.json").is_file())
        orphans += len(set(Path(tmp).iterdir()) - beside)  # written outside the runs folder
        return Outcome(case, kind, message, orphans)


class Hang(BaseException):
    """A case ran past its time limit (BaseException: the code under test catches Exception)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise Hang in this (the main) thread after `seconds` of wall time."""
    def expire(signum, frame):
        raise Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_catalogue(cases: list[Case] | None = None) -> list[Outcome]:
    saved = os.environ.get("LABKIT_RUNS_DIR")
    try:
        with app_starts_no_process():
            return [attempt_case(case) for case in (catalogue() if cases is None else cases)]
    finally:
        if saved is None:
            os.environ.pop("LABKIT_RUNS_DIR", None)
        else:
            os.environ["LABKIT_RUNS_DIR"] = saved


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    kinds = Counter(o.kind for o in outcomes)
    return {**{k: kinds[k] for k in KINDS}, "orphan folders": sum(o.orphans for o in outcomes), "inputs": len(outcomes)}


def report(outcomes: list[Outcome]) -> str:
    lines = ["| surface | inputs | refused | unclear | tracebacks | hangs | wrongly accepted | orphan folders |",
             "|---|---|---|---|---|---|---|---|"]
    for surface in ("cli", "config", "app", None):
        part = [o for o in outcomes if surface is None or o.case.surface == surface]
        c = counts(part)
        lines.append(f"| {surface or 'all'} | {c['inputs']} | {c['refused']} | {c['unclear']} | {c['traceback']} | "
                     f"{c['hang']} | {c['completed']} | {c['orphan folders']} |")
    for kind in ("traceback", "hang", "unclear", "completed"):
        for o in outcomes:
            if o.kind == kind:
                lines.append(f"\n{kind.upper()} [{o.case.surface}] {o.case.label} "
                             f"(expected to name {o.case.field!r}):\n{o.message.rstrip()}")
    for o in outcomes:
        if o.orphans:
            lines.append(f"\nORPHANS [{o.case.surface}] {o.case.label}: {o.orphans} folder(s) left")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run_catalogue()))
