"""Command line: python -m labkit run | list | runs | show | sweep | table | compare | tune | reproduce | demo |
pretrain | app (`labkit` where the package is installed).

The parser and what the commands share (the exit codes of a refusal and Ctrl-C: a LabkitError, bad
input or stored state that cannot be used, is one `error: ...` line and exit code 2); the commands
themselves: labkit.cli.run_commands (single runs), labkit.cli.sweep_commands (grids and searches),
labkit.cli.reproduce_command, labkit.cli.app_command, and here `list` and `pretrain`."""
from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

from labkit.cli import app_command, reproduce_command, run_commands, sweep_commands
from labkit.cli.config_flags import add_config_args
from labkit.data import DATASETS, SCENARIOS
from labkit.experiment import pretrain
from labkit.experiment.runner import pick_device
from labkit.experiment.store import DEFAULT_RUNS_DIR
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.models import BACKBONES
from labkit.protocols import comparisons
from labkit.protocols.presets import PRESETS
from labkit.errors import LabkitError


def cmd_list(args: argparse.Namespace) -> None:
    for title, registry in (("datasets", DATASETS), ("scenarios", SCENARIOS), ("backbones", BACKBONES),
                            ("losses", LOSSES), ("presets", PRESETS), ("comparisons", comparisons.COMPARISONS)):
        print(f"{title}:")
        for name in registry:
            print(f"  {name:<14} {registry.doc(name)}")
    print("methods:")
    for name in METHODS:
        cls = METHODS.get(name)
        usable = [loss for loss in LOSSES if cls.loss_problem(loss) is None]
        uses = f" [losses: {', '.join(usable)}]" if len(usable) < len(LOSSES.names()) else ""
        print(f"  {name:<14} {METHODS.doc(name)}{uses}")
        for k, p in cls.params.items():  # each default with where it comes from (docs/METHODS.md)
            print(f"  {'':<14} {k}={p.default}  (default from: {p.source})")


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
    checkpoint = pretrain.load_pretrained(path)
    print(f"checkpoint {path}: {checkpoint['backbone']} pre-trained on {checkpoint['train_images']} images "
          f"of {checkpoint['source']}, train accuracy {100 * checkpoint['train_accuracy']:.1f}%")
    if args.holdout:
        print(f"runs on {args.dataset} with --pretrained {path} leave those images out of their tasks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labkit", description=__doc__)
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, help="where runs are stored")
    sub = parser.add_subparsers(dest="command", required=True)
    run_commands.add_commands(sub, add_config_args)
    sub.add_parser("list", help="datasets, scenarios, backbones, losses and methods").set_defaults(func=cmd_list)
    sweep_commands.add_commands(sub, add_config_args)
    reproduce_command.add_command(sub)
    app_command.add_command(sub)
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
    return parser


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (the app's Stop) -> KeyboardInterrupt, so the runner records a run_failed event
    and the completed tasks stay stored, as after Ctrl-C."""
    raise KeyboardInterrupt("stopped (SIGTERM)")


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the command line prints it: 'note: <message>' on one line (where it was raised
    in labkit's code is no help to a user of the command)."""
    return f"note: {message}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = one_line_warning
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except LabkitError as error:  # ConfigError (bad input) or StoreError (what is stored cannot be used)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"stopped: {stop}" if isinstance(stop, sweep_commands.SweepStopped) else
              "stopped: the completed tasks are kept (run --resume RUN_ID continues)", file=sys.stderr)
        return 130


def entry() -> None:
    """`python -m labkit`: SIGTERM stops a run as Ctrl-C does, and the exit code is main()'s."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    sys.exit(main())
