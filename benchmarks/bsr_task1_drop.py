"""#17 item 3: with labkit's seeded class order, rethinking-fashion seed 1, LwF-BSR lost task 1
(task-aware 99.2% -> 62.4%) while learning task 4, where LwF kept 98.8%. Which term and which
setting does it: each LwF variant on that seed and order, LwF-BSR at half the learning rate, and
LwF-BSR with FACIL's order (the presets' now), printing task 1's task-aware accuracy after each
task and LwF-BSR's training loss per epoch of task 4.

    python benchmarks/bsr_task1_drop.py [--data-root data]

Figures only; about 10 runs of 10-30 s on a CPU.
"""
from __future__ import annotations

import argparse

from labkit import run
from labkit.experiment.events import EpochEnded
from labkit.protocols.presets import PRESETS


def task1(result) -> list[float]:
    return [round(100 * row[0], 1) for row in result.acc_taw]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args()
    seeded = PRESETS.get("rethinking-fashion").replace(data_root=args.data_root, knn_k=0, seed=1,
                                                       class_order="seeded", val_split="random")
    print("task 1's task-aware accuracy (%) after each task, rethinking-fashion, seed 1")
    for method in ("lwf", "lwf-s", "lwf-sr", "lwf-br", "lwf-br2", "lwf-bsr"):
        print(f"  seeded order, lr 0.1   {method:<8} {task1(run(seeded.replace(method=method)))}", flush=True)
    print(f"  seeded order, lr 0.05  lwf-bsr  {task1(run(seeded.replace(method='lwf-bsr', lr=0.05)))}")
    facil = seeded.replace(class_order="facil", val_split="stratified", method="lwf-bsr")
    print(f"  FACIL order,  lr 0.1   lwf-bsr  {task1(run(facil))}")
    epochs: list[EpochEnded] = []
    run(seeded.replace(method="lwf-bsr"), lambda e: epochs.append(e) if isinstance(e, EpochEnded) else None)
    print("lwf-bsr, seeded order, lr 0.1: task 4's epochs (training loss, validation loss, learning rate)")
    for e in (e for e in epochs if e.task == 3):
        print(f"  epoch {e.epoch + 1}: {e.loss:.4f}  {e.val_loss:.4f}  {e.lr:.4g}")


if __name__ == "__main__":
    main()
