"""What RunConfig.track_curvature costs: seconds of curvature_after_task after each task (the
Fisher's figures on the task just learned and on all tasks seen, each on up to 256 images; after
task 1 the two are the same images, measured once) against that task's training seconds
(RunResult.task_seconds, which leaves the tracking out).

    python benchmarks/curvature_tracking_cost.py [--data-root data] [--device cpu] [--threads T]

Two runs: digits (mlp, 5 tasks, task-IL, RunConfig's other defaults) and Fashion-MNIST (the
rethinking-fashion preset, 2 epochs a task instead of 8) when its files are under --data-root
(labkit.data.datasets.missing_files; else it says so and skips it). Tracking uses its defaults:
256 images, 20 power iterations, EWC's diagonal Fisher. The first task's tracking also pays
torch.func's first-call set-up. A benchmark, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse

import torch

from labkit import RunConfig, run
from labkit.data.datasets import missing_files
from labkit.protocols.presets import PRESETS


def report(name: str, config: RunConfig) -> None:
    """Run `config` with tracking and print, per task, training and tracking seconds."""
    result = run(config.replace(track_curvature=True))
    print(f"\n{name}: {config.dataset} {config.scenario}, {config.backbone}, {config.tasks} tasks x "
          f"{config.epochs} epochs, device {result.device}")
    print(f"{'task':>4} {'train s':>9} {'tracking s':>11} {'tracking/train':>15} {'images':>11} "
          f"{'max eigenvalue':>21} {'diagonal total':>21}")
    print(f"{'':>42} {'newest/all':>11} {'newest / all seen':>21} {'newest / all seen':>21}")
    for t, (train, e) in enumerate(zip(result.task_seconds, result.curvature), start=1):
        print(f"{t:>4} {train:9.3f} {e['seconds']:11.3f} {e['seconds'] / train:14.1%} "
              f"{e['newest_images']:>5}/{e['images']:<5} "
              f"{e['newest_max_eigenvalue']:10.4g}/{e['max_eigenvalue']:<10.4g} "
              f"{e['newest_diagonal_total']:10.4g}/{e['diagonal_total']:<10.4g}")
    train, tracking = sum(result.task_seconds), sum(e["seconds"] for e in result.curvature)
    print(f" all {train:9.3f} {tracking:11.3f} {tracking / train:14.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    common = dict(device=args.device, data_root=args.data_root)
    report("digits", RunConfig(dataset="digits", scenario="task-il", tasks=5, backbone="mlp", **common))
    problem = missing_files("fashion_mnist", args.data_root)
    if problem:
        print(f"\nFashion-MNIST skipped: {problem}")
    else:
        report("rethinking-fashion", PRESETS.get("rethinking-fashion").replace(epochs=2, **common))


if __name__ == "__main__":
    main()
