"""`python -m labkit reproduce [PAPER ...]`: the papers' claims (labkit.teaching.paper_claims) run by the kit
and printed one row per claim (labkit.teaching.reproduce); stored, so a second call prints at once."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from labkit.cli.sweep_commands import SweepStopped, add_execution_args
from labkit.errors import ConfigError
from labkit.teaching import reproduce
from labkit.teaching.paper_claims import PAPERS


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Every selected claim, checked before anything runs; exit 0 whatever the verdicts (a claim
    not shown is a result), 1 when a run failed."""
    if args.csv is not None and not args.csv.parent.is_dir():
        raise ConfigError("csv", str(args.csv), "a file in an existing folder")
    if args.workers is not None and args.workers < 0:
        raise ConfigError("workers", args.workers, "0 (in this process) or a number of CPUs >= 1")
    started = time.time()
    try:
        results = reproduce.reproduce(args.papers, args.scale, args.runs_dir, quick=args.quick, workers=args.workers,
                                      address=args.address, cpus_per_run=args.cpus_per_run,
                                      gpus_per_run=args.gpus_per_run)
    except KeyboardInterrupt:
        raise SweepStopped("the finished runs are kept; the same command resumes the others") from None
    mode = " (quick: 1 epoch, 2 seeds; shows only that the loop works)" if args.quick else ""
    print(f"reproduce, {args.scale} protocols{mode}: labkit's paired difference (treatment - baseline, "
          "in points or the metric's units, [95% interval]) beside the paper's figure")
    print(reproduce.markdown(results))
    counts = {v: sum(r.verdict == v for r in results) for v in reproduce.VERDICTS.values()}
    print(", ".join(f"{n} {v}" for v, n in counts.items()) + f" of {len(results)} claims; "
          f"{time.time() - started:.0f} s wall (load {os.getloadavg()[0]:.1f})")
    for protocol in {r.protocol.name: r.protocol for r in results}.values():
        print(f"- {protocol.name} ({protocol.text}): {protocol.why}")
    if args.csv is not None:
        reproduce.write_csv(results, args.csv)
        print(f"written to {args.csv}")
    failed = [r for r in results if "failed" in r.runs or "stopped" in r.runs]
    for r in failed:
        print(f"error: {r.claim.key}: {r.runs}", file=sys.stderr)
    return 1 if failed else 0


def add_command(sub) -> None:
    p = sub.add_parser("reproduce", help="the papers' claims, run by labkit, beside the papers' own figures")
    p.add_argument("papers", nargs="*", metavar="PAPER", help=f"some of: {', '.join(PAPERS)} (default: all)")
    p.add_argument("--scale", default="cpu", choices=reproduce.SCALES,
                   help="cpu: protocols this machine runs in minutes (default); gpu: the papers' own (CIFAR-100)")
    p.add_argument("--quick", action="store_true", help="1 epoch, 2 seeds: a smoke run of the loop")
    p.add_argument("--csv", type=Path, help="also write the table as CSV to this file")
    add_execution_args(p)
    p.set_defaults(func=cmd_reproduce)
