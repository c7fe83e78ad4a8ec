"""Wall time of a 5-task digits run per method with the demo settings (`make demo`).

    python benchmarks/method_speed.py [--repeats 3] [--epochs 10]

Prints, per method, the median total seconds over the repeats and the median seconds per task,
with the machine's thread count. A benchmark, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from labkit import run
from labkit.cli.run_commands import DEMO_CONFIG, DEMO_METHODS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=DEMO_CONFIG.epochs)
    args = parser.parse_args()
    config = DEMO_CONFIG.replace(epochs=args.epochs, device="cpu")
    run(config)  # warm-up: imports, first allocations, sklearn's digits file
    print(f"digits, class-il, {config.tasks} tasks, {config.backbone}, {config.epochs} epochs, "
          f"batch {config.batch_size}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; median of {args.repeats}")
    print(f"{'method':<10} {'run s':>7} {'per task s':>11}")
    for method in DEMO_METHODS:
        walls, per_task = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = run(config.replace(method=method))
            walls.append(time.perf_counter() - start)
            per_task.append(statistics.mean(result.task_seconds))
        print(f"{method:<10} {statistics.median(walls):7.2f} {statistics.median(per_task):11.3f}")


if __name__ == "__main__":
    main()
