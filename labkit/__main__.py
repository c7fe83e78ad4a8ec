"""Command line: python -m labkit run | list | runs | show | sweep | table | compare | demo | pretrain."""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
from pathlib import Path

from labkit import comparisons, pretrain, report, sweep
from labkit.cli_config import add_config_args, config_from, given_fields
from labkit.config import RunConfig
from labkit.data import DATASETS, SCENARIOS
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.models import BACKBONES
from labkit.progress import ProgressBar
from labkit.presets import PRESETS
from labkit.registry import ConfigError
from labkit.result import RunResult
from labkit.runner import natural_kind, pick_device, run
from labkit.store import DEFAULT_RUNS_DIR, RunDir, list_runs
from labkit.sweep import commands as sweep_commands

DEMO_METHODS = ("finetune", "lwf", "ewc", "joint")
DEMO_CONFIG = RunConfig(dataset="digits", scenario="class-il", tasks=5, backbone="mlp", epochs=10,
                        batch_size=32, lr=0.05, seed=0)


def run_and_store(config: RunConfig, runs_dir: Path, run_dir: RunDir | None = None) -> tuple[RunDir, RunResult]:
    """Run `config` into a new run folder (or resume `run_dir`) with a progress bar. A new folder
    refused for bad input (e.g. dataset files missing) before any task ran is removed again."""
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
    name = "task-agnostic" if kind == "tag" else "task-aware"
    c = result.config
    print(f"\n{c['method']} on {c['dataset']} {c['scenario']}, {c['tasks']} tasks, loss {c['loss']} "
          f"[{run_id}] {report.status_text(result)}")
    if result.tasks_done:
        print(f"accuracy matrix ({name}, %):\n{report.matrix_table(result, kind)}")
        print(report.summary_line(result, kind))


def outcome_code(run_id: str, result: RunResult) -> int:
    """0 for a finished run; for a diverged one, one line on stderr and 3."""
    if result.status != "diverged":
        return 0
    print(f"error: run {run_id} {report.status_text(result)}; its {result.tasks_done} completed task(s) are kept",
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
    """0 when no run diverged; else one line on stderr saying how many, and 3."""
    runs = [r for rs in results.values() for r in rs]
    diverged = len(runs) - len(sweep.trained(runs))
    if not diverged:
        return 0
    print(f"error: {diverged} of {len(runs)} runs diverged (marked so above; means leave them out)", file=sys.stderr)
    return 3


def cmd_list(args: argparse.Namespace) -> None:
    for title, registry in (("datasets", DATASETS), ("scenarios", SCENARIOS), ("backbones", BACKBONES),
                            ("losses", LOSSES), ("presets", PRESETS), ("comparisons", comparisons.COMPARISONS)):
        print(f"{title}:")
        for name in registry:
            print(f"  {name:<14} {registry.doc(name)}")
    print("methods:")
    for name in METHODS:
        cls = METHODS.get(name)
        knobs = ", ".join(f"{k}={p.default}" for k, p in cls.params.items())
        usable = [loss for loss in LOSSES if cls.loss_problem(loss) is None]
        uses = f" [losses: {', '.join(usable)}]" if len(usable) < len(LOSSES.names()) else ""
        print(f"  {name:<14} {METHODS.doc(name)}{uses}" + (f"\n  {'':<14} params: {knobs}" if knobs else ""))


def cmd_runs(args: argparse.Namespace) -> None:
    """One line per stored run; a run whose files are damaged is named with what is wrong, and
    the listing goes on."""
    runs = list_runs(args.runs_dir)
    if not runs:
        print(f"no runs stored in {args.runs_dir}")
    for r in runs:
        try:
            c, res = r.config(), r.result()
        except ConfigError as error:
            print(f"{r.run_id:<48} unreadable: {error.valid}")
            continue
        done = res.tasks_done if res else 0
        if res is None or res.status == "running":
            state = f"{done}/{c['tasks']} tasks" + (", running" if r.is_being_written() else "")
        else:
            state = res.status if res.status == "finished" else f"{res.status} ({done}/{c['tasks']} tasks)"
        acc = res.summary(natural_kind(c["scenario"]))["final_average_accuracy"] if res and done else None
        print(f"{r.run_id:<48} {c['method']:<9} {c['scenario']:<9} {state:<24} "
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
    for kind, name in (("taw", "task-aware"), ("tag", "task-agnostic")):
        print(f"\nclass-incremental digits, {config.tasks} tasks, {name} accuracy (%):")
        print(report.comparison_table(results, kind))
    print("\nTask-agnostic accuracy collapses to the last task for every method but joint: without old\n"
          "data, softmax lets the new head's logits outgrow the old ones (notebook 01 studies why).\n"
          "Task-aware accuracy shows what LwF and EWC keep inside each old head.")
    return diverged_code({name: [result] for name, result in results.items()})


def cmd_pretrain(args: argparse.Namespace) -> None:
    """Train (or find cached) a backbone checkpoint that runs start from with --pretrained PATH.
    Every option is checked before any work (ConfigError naming it); a pre-training that
    diverges caches nothing and exits with status 3 after one line on stderr."""
    spec = pretrain.PretrainSpec(source=args.dataset, backbone=args.backbone, holdout=args.holdout,
                                 epochs=args.epochs, lr=args.lr, batch_size=args.batch_size).validate()
    try:
        path = pretrain.pretrain(spec, args.data_root, pick_device(args.device))
    except pretrain.Diverged as diverged:
        print(f"error: pre-training diverged at epoch {diverged.epoch + 1}: {diverged.reason}; nothing was "
              f"cached (a smaller --lr than {spec.lr:g} may train)", file=sys.stderr)
        raise SystemExit(3) from None
    checkpoint = pretrain.load_checkpoint(path)
    print(f"checkpoint {path}: {checkpoint['backbone']} pre-trained on {checkpoint['train_images']} images "
          f"of {checkpoint['source']}, train accuracy {100 * checkpoint['train_accuracy']:.1f}%")
    if args.holdout:
        print(f"runs on {args.dataset} with --pretrained {path} leave those images out of their tasks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labkit", description=__doc__)
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, help="where runs are stored")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run one experiment and store it")
    add_config_args(p_run)
    p_run.add_argument("--resume", metavar="RUN_ID", help="continue a stored run after its last completed task")
    p_run.set_defaults(func=cmd_run)
    sub.add_parser("list", help="datasets, scenarios, backbones, losses and methods").set_defaults(func=cmd_list)
    sub.add_parser("runs", help="stored runs").set_defaults(func=cmd_runs)
    p_show = sub.add_parser("show", help="a stored run's matrix and metrics")
    p_show.add_argument("run_id")
    p_show.set_defaults(func=cmd_show)
    sweep_commands.add_commands(sub, add_config_args)
    p_pre = sub.add_parser("pretrain", help="pre-train and cache a backbone checkpoint (DLCFT starts from one)")
    p_pre.add_argument("--dataset", default="fashion_mnist", help="the dataset to pre-train on")
    p_pre.add_argument("--backbone", default="mlp-leaky")
    p_pre.add_argument("--holdout", type=float, default=0.2,
                       help="pre-train on this held-out share of the training images (0: all of them, "
                            "for pre-training on another dataset than the runs')")
    p_pre.add_argument("--epochs", type=int, default=10)
    p_pre.add_argument("--lr", type=float, default=0.05)
    p_pre.add_argument("--batch-size", type=int, default=128)
    p_pre.add_argument("--data-root", default="data")
    p_pre.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p_pre.set_defaults(func=cmd_pretrain)
    p_demo = sub.add_parser("demo", help="fine-tuning vs LwF vs EWC vs joint on digits")
    p_demo.add_argument("--epochs", type=int, default=DEMO_CONFIG.epochs)
    p_demo.add_argument("--seed", type=int, default=DEMO_CONFIG.seed)
    p_demo.set_defaults(func=cmd_demo)
    return parser


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (the app's Stop) -> KeyboardInterrupt, so the runner records a run_failed event
    and the completed tasks stay stored, as after Ctrl-C."""
    raise KeyboardInterrupt("stopped (SIGTERM)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"stopped: {stop}" if isinstance(stop, sweep_commands.SweepStopped) else
              "stopped: the completed tasks are kept (run --resume RUN_ID continues)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    sys.exit(main())
