"""What RunConfig.log "tensorboard" costs per epoch: the seconds spent inside the logger (every
call it gets, timed), and whole runs with and without it, interleaved in pairs.

    python benchmarks/tensorboard_cost.py [--repeats 3] [--data-root data]

Two configs: digits (mlp, 5 tasks, class-IL, 5 epochs a task, RunConfig's other defaults) and
Fashion-MNIST (the rethinking-fashion preset, 2 epochs a task instead of 8) when its files are found
(else it says so and skips it). The logger's own time is the figure to read: a run's wall time
varies by more than the logger costs on a shared machine, so the pairs' differences are printed
beside it, with the load average (after one warm-up pair, not counted). A benchmark, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from labkit import RunConfig, RunDir, run
from labkit.data.datasets import missing_files
from labkit.experiment import tensorboard_log
from labkit.protocols.presets import PRESETS

LOGGER_SECONDS: list[float] = []


def timed_calls() -> None:
    """Wrap the logger's __call__ so every call's seconds land in LOGGER_SECONDS."""
    call = tensorboard_log.TensorBoardLog.__call__

    def timed(self, event):
        start = time.perf_counter()
        call(self, event)
        LOGGER_SECONDS.append(time.perf_counter() - start)
    tensorboard_log.TensorBoardLog.__call__ = timed


def one_run(config: RunConfig, runs_dir: Path) -> float:
    start = time.perf_counter()
    run(config, run_dir=RunDir.create(config.to_dict(), runs_dir))
    return time.perf_counter() - start


def report(name: str, config: RunConfig, repeats: int) -> None:
    epochs = config.tasks * config.epochs
    plain, logged, inside = [], [], []
    with tempfile.TemporaryDirectory() as runs_dir:
        one_run(config.replace(log=""), Path(runs_dir))  # warm-up, not counted: the first run pays set-up
        one_run(config.replace(log="tensorboard"), Path(runs_dir))
        load = os.getloadavg()[0]
        for _ in range(repeats):
            plain.append(one_run(config.replace(log=""), Path(runs_dir)))
            LOGGER_SECONDS.clear()
            logged.append(one_run(config.replace(log="tensorboard"), Path(runs_dir)))
            inside.append(sum(LOGGER_SECONDS))
        load_after = os.getloadavg()[0]
    per_epoch = statistics.median(inside) / epochs
    epoch_s = statistics.median(plain) / epochs
    diffs = [(b - a) / epochs for a, b in zip(plain, logged)]
    print(f"\n{name}: {config.dataset} {config.scenario}, {config.backbone}, {config.tasks} tasks x {config.epochs} "
          f"epochs, {repeats} pairs, load average {load:.1f} -> {load_after:.1f}")
    print(f"  a run without logging: median {statistics.median(plain):.2f} s ({1000 * epoch_s:.1f} ms an epoch)")
    print(f"  inside the logger:     median {1000 * per_epoch:.2f} ms an epoch ({per_epoch / epoch_s:.1%} of an "
          f"epoch), {1000 * statistics.median(inside):.0f} ms a run (with its first call's set-up)")
    print(f"  pairs (logged - plain) per epoch: {', '.join(f'{1000 * d:+.1f} ms' for d in diffs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args()
    timed_calls()
    report("digits", RunConfig(dataset="digits", epochs=5, device="cpu", knn_k=0, data_root=args.data_root),
           args.repeats)
    fashion = PRESETS.get("rethinking-fashion").replace(epochs=2, device="cpu", data_root=args.data_root)
    if missing_files("fashion_mnist", args.data_root):
        print("\nFashion-MNIST: its files are not found; skipped (install Debian's dataset-fashion-mnist)")
    else:
        report("Fashion-MNIST", fashion, args.repeats)


if __name__ == "__main__":
    main()
