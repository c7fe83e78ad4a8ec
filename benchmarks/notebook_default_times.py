"""Every notebook in its default mode (what a student gets in JupyterLab: LABKIT_QUICK and
LABKIT_FULL unset), one after another through nbclient, timed: the issue's goal is under 5
minutes each on a 2-core machine. The executed copies are written to --out for reading.

    python benchmarks/notebook_default_times.py                  # all notebooks
    python benchmarks/notebook_default_times.py --notebooks 04_rethinking_softmax_methods

Prints one line per notebook (wall seconds, the slowest cell, the load average before and after)
and a table. Figures only; a notebook that fails is reported with its error and the rest go on.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", default=",".join(p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb"))))
    parser.add_argument("--out", type=Path, default=Path("/tmp/labkit-notebooks-default"))
    parser.add_argument("--cell-timeout", type=int, default=1200)
    args = parser.parse_args()
    for name in ("LABKIT_QUICK", "LABKIT_FULL"):
        os.environ.pop(name, None)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.notebooks.split(","):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        client = NotebookClient(nb, timeout=args.cell_timeout, resources={"metadata": {"path": str(NOTEBOOKS)}})
        load = os.getloadavg()[0]
        started, error = time.perf_counter(), ""
        try:
            client.execute()
        except CellExecutionError as failure:
            error = str(failure).strip().splitlines()[-1][:200]
        seconds = time.perf_counter() - started
        nbformat.write(nb, args.out / f"{name}.ipynb")
        rows.append((name, seconds, load, os.getloadavg()[0], error))
        print(f"{name}: {seconds:.0f} s (load {load:.1f} -> {os.getloadavg()[0]:.1f}) {error or 'ok'}", flush=True)
    print("\n| notebook | default mode, s | load before | load after | outcome |\n|---|---|---|---|---|")
    for name, seconds, before, after, error in rows:
        print(f"| {name} | {seconds:.0f} | {before:.1f} | {after:.1f} | {error or 'ok'} |")


if __name__ == "__main__":
    main()
