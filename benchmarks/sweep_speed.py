"""A sweep one cell at a time in this process against the same sweep on a local Ray, in one run
of this script (so both see the same machine), and Ray's overhead per cell.

    python benchmarks/sweep_speed.py                         # the 18-cell rethinking-fashion table
    python benchmarks/sweep_speed.py --epochs 2 --seeds 0,1  # a shorter version of it
    python benchmarks/sweep_speed.py --paired-seeds 10       # then LwF-BSR minus LwF over 10 seeds

Overhead: the same number of near-empty cells (digits, 1 task, 1 epoch) in-process and on Ray,
after Ray and its workers have started; (workers x Ray wall - in-process wall) / cells is the CPU
time Ray adds to each cell. Ray's start and its workers' first cells are timed on their own. Every sweep here writes to a fresh temporary runs folder.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from labkit.analysis import effects
from labkit.config import RunConfig
from labkit.protocols.presets import PRESETS
from labkit.sweep.execute import run_sweep, start_ray
from labkit.sweep.grid import grid_cells

VARIANTS = ["lwf", "lwf-s", "lwf-sr", "lwf-br", "lwf-br2", "lwf-bsr"]


def timed(label: str, cells, workers: int) -> tuple[float, list]:
    runs = Path(tempfile.mkdtemp(prefix="labkit-sweep-bench-"))
    started = time.perf_counter()
    outcomes = run_sweep(label, cells, runs, workers=workers, progress=False)
    return time.perf_counter() - started, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's 8 epochs per task")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--overhead-cells", type=int, default=8)
    parser.add_argument("--paired-seeds", type=int, default=0, help="also run LwF and LwF-BSR over this many seeds")
    args = parser.parse_args()
    base = PRESETS.get("rethinking-fashion").replace(device="cpu")
    if args.epochs:
        base = base.replace(epochs=args.epochs)
    seeds = [int(s) for s in args.seeds.split(",")]
    cells = grid_cells(base, {"method": VARIANTS, "seed": seeds})
    print(f"{len(cells)} cells: rethinking-fashion, {base.epochs} epochs, seeds {seeds}")

    ray_start = time.perf_counter()
    start_ray(args.workers, None)
    ray_start = time.perf_counter() - ray_start
    tiny = grid_cells(RunConfig(dataset="digits", tasks=1, epochs=1, device="cpu", knn_k=0),
                      {"seed": list(range(args.overhead_cells))})
    warm_up, _ = timed("tiny-warm-up", tiny, args.workers)  # Ray's workers start, import torch and labkit
    here_tiny, _ = timed("tiny-here", tiny, 0)
    ray_tiny, _ = timed("tiny-ray", tiny, args.workers)
    here, here_out = timed("here", cells, 0)
    on_ray, ray_out = timed("ray", cells, args.workers)
    statuses = {o.status for o in here_out + ray_out}
    print(f"| execution | wall s | s per cell |\n|---|---|---|\n"
          f"| one cell at a time, in-process | {here:.0f} | {here / len(cells):.1f} |\n"
          f"| Ray, {args.workers} workers | {on_ray:.0f} | {on_ray / len(cells):.1f} |")
    print(f"speed-up {here / on_ray:.2f}x; cells ended: {sorted(statuses)}")
    print(f"Ray start {ray_start:.1f} s and its workers' first cells {warm_up:.1f} s (once per process); "
          f"then {args.overhead_cells} near-empty cells: in-process "
          f"{here_tiny:.1f} s, Ray {ray_tiny:.1f} s with {args.workers} workers, i.e. "
          f"{(ray_tiny * args.workers - here_tiny) / args.overhead_cells:+.2f} CPU-s per cell")
    print(effects.markdown(effects.effect_rows(ray_out, {"method": "lwf"})))
    if args.paired_seeds:
        pair = grid_cells(base, {"method": ["lwf", "lwf-bsr"], "seed": list(range(args.paired_seeds))})
        wall, outcomes = timed("paired", pair, args.workers)
        rows = effects.effect_rows(outcomes, {"method": "lwf"})
        print(f"\nLwF-BSR minus LwF over {args.paired_seeds} seeds ({wall:.0f} s on Ray):")
        print(effects.markdown(rows))
        for metric in ("taw_total_average_accuracy", "tag_total_average_accuracy"):
            d = rows[1]["vs"][metric]
            print(f"{metric}: {d.text()}; the interval {'excludes' if d.separated else 'includes'} zero")


if __name__ == "__main__":
    main()
