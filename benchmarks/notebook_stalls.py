"""Stall check: execute notebooks through nbclient (as nbmake and nbconvert do) again and again
and report each run's time: a run over twice the median is slow (on a shared machine, often
just load), and a cell that ends at the cell timeout is a stall (the message wait this check
exists for: a reply that reaches nbclient only when its poll times out).

    python benchmarks/notebook_stalls.py                       # 00 and 01, quick mode, 20 runs each
    python benchmarks/notebook_stalls.py --repeats 8 --notebooks 01_softmax_non_identifiability

Prints one line per run (seconds, slowest cell) and a summary per notebook: median, max, stalls.
Figures only; nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def execute_once(path: Path, cell_timeout: int, upto: int | None) -> tuple[float, int, float]:
    """Seconds for the whole notebook (or its first `upto` cells), the slowest cell and its time
    (a code cell only: markdown takes no time)."""
    nb = nbformat.read(path, as_version=4)
    if upto is not None:
        nb.cells = nb.cells[:upto]
    client = NotebookClient(nb, timeout=cell_timeout, resources={"metadata": {"path": str(NOTEBOOKS)}})
    times: list[float] = []
    started = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            t0 = time.perf_counter()
            client.execute_cell(cell, index)
            times.append(time.perf_counter() - t0)
    slowest = max(range(len(times)), key=times.__getitem__)
    return time.perf_counter() - started, slowest, times[slowest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", default="00_quickstart,01_softmax_non_identifiability")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cell-timeout", type=int, default=60)
    parser.add_argument("--upto", type=int, help="execute only the first N cells")
    args = parser.parse_args()
    os.environ.setdefault("LABKIT_QUICK", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for name in args.notebooks.split(","):
        path = NOTEBOOKS / f"{name}.ipynb"
        runs, stalls = [], 0
        for i in range(args.repeats):
            seconds, cell, cell_seconds = execute_once(path, args.cell_timeout, args.upto)
            runs.append(seconds)
            stalls += cell_seconds >= 0.9 * args.cell_timeout
            print(f"{name} run {i + 1}: {seconds:.1f} s (slowest cell {cell}: {cell_seconds:.1f} s)", flush=True)
        median = statistics.median(runs)
        slow = sum(s > 2 * median for s in runs)
        print(f"{name}: {len(runs)} runs, median {median:.1f} s, max {max(runs):.1f} s, over 2x median {slow}, "
              f"stalls (a cell at the {args.cell_timeout} s timeout) {stalls}", flush=True)


if __name__ == "__main__":
    main()
