"""Every notebook in its default mode (what a student gets in JupyterLab: LABKIT_QUICK and
LABKIT_FULL unset), one after another through nbclient, timed: the issue's goal is under 5
minutes each on a 2-core machine, counted in CPU seconds (which load does not inflate): the
kernel's own user + system time and its reaped children's (os.times, read by a cell appended to
the notebook and removed from the copy). The executed copies are written to --out for reading.

    python benchmarks/notebook_default_times.py                  # all notebooks
    python benchmarks/notebook_default_times.py --notebooks 04_rethinking_softmax_methods

Prints one line per notebook (wall seconds, CPU seconds, the load average before and after) and a
table, then
what a reader would miss in the executed copies: a code cell over 20 s that shows no progress bar,
and a figure with no "what to see" sentence in its own cell or the next one. Figures only; a
notebook that fails is reported with its error and the rest go on.

    python benchmarks/notebook_default_times.py --check-only   # read the copies in --out again
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _seconds(cell: dict) -> float:
    times = cell.get("metadata", {}).get("execution", {})
    if "shell.execute_reply" not in times:
        return 0.0
    start, end = (datetime.datetime.fromisoformat(times[k].replace("Z", "+00:00"))
                  for k in ("iopub.execute_input", "shell.execute_reply"))
    return (end - start).total_seconds()


def _text(cell: dict) -> str:
    """A cell's source and what it printed or displayed as text or Markdown."""
    parts = ["".join(cell.get("source", ""))]
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        parts.append("".join(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


def reading_gaps(nb: dict, slow_s: float = 20.0) -> list[str]:
    """Cells over `slow_s` seconds without a tqdm bar (a text bar's ' 40%|', or a tqdm widget), and figures without 'what to see' in their cell or the next."""
    gaps, cells = [], nb["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        outputs = cell.get("outputs", [])
        bar = re.search(r"\d+%\|", _text(cell)) is not None or \
            any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
        if _seconds(cell) > slow_s and not bar:
            gaps.append(f"cell {i}: {_seconds(cell):.0f} s without a progress bar")
        figures = sum(any(k.startswith(("application/vnd.plotly", "image/")) for k in o.get("data", {})) for o in outputs)
        nearby = _text(cell) + (_text(cells[i + 1]) if i + 1 < len(cells) else "")
        if figures and "what to see" not in nearby.lower():
            gaps.append(f"cell {i}: {figures} figure(s) without a 'what to see' sentence")
    return gaps


CPU_MARK = "LABKIT_KERNEL_CPU_SECONDS"
CPU_CELL = ("import os as _os\n_t = _os.times()\n"
            f"print('{CPU_MARK}', _t.user + _t.system + _t.children_user + _t.children_system)")


def kernel_cpu_seconds(nb) -> float | None:
    """The CPU seconds the appended cell printed (and the cell removed); None if it did not run."""
    cell = nb.cells.pop()
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(CPU_MARK):
                return float(line.split()[1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", default=",".join(p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb"))))
    parser.add_argument("--out", type=Path, default=Path("/tmp/labkit-notebooks-default"))
    parser.add_argument("--cell-timeout", type=int, default=1200)
    parser.add_argument("--check-only", action="store_true", help="read the executed copies in --out; run nothing")
    args = parser.parse_args()
    if args.check_only:
        return print_gaps(args.out, args.notebooks.split(","))
    for name in ("LABKIT_QUICK", "LABKIT_FULL"):
        os.environ.pop(name, None)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.notebooks.split(","):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(CPU_CELL))
        client = NotebookClient(nb, timeout=args.cell_timeout, resources={"metadata": {"path": str(NOTEBOOKS)}})
        load = os.getloadavg()[0]
        started, error = time.perf_counter(), ""
        try:
            client.execute()
        except CellExecutionError as failure:
            error = str(failure).strip().splitlines()[-1][:200]
        seconds = time.perf_counter() - started
        cpu = kernel_cpu_seconds(nb)
        cpu_text = "-" if cpu is None else f"{cpu:.0f}"
        nbformat.write(nb, args.out / f"{name}.ipynb")
        rows.append((name, seconds, cpu_text, load, os.getloadavg()[0], error))
        print(f"{name}: {seconds:.0f} s wall, {cpu_text} CPU-s (load {load:.1f} -> {os.getloadavg()[0]:.1f}) "
              f"{error or 'ok'}", flush=True)
    print("\n| notebook | default mode, wall s | CPU s (kernel + children) | load before | load after | outcome |\n"
          "|---|---|---|---|---|---|")
    for name, seconds, cpu_text, before, after, error in rows:
        print(f"| {name} | {seconds:.0f} | {cpu_text} | {before:.1f} | {after:.1f} | {error or 'ok'} |")
    print_gaps(args.out, args.notebooks.split(","))


def print_gaps(out: Path, names: list[str]) -> None:
    total = 0
    for name in names:
        for gap in reading_gaps(nbformat.read(out / f"{name}.ipynb", as_version=4)):
            print(f"{name} {gap}")
            total += 1
    print(f"{total} reading gaps (slow cells without a bar, figures without 'what to see') in {len(names)} notebooks")


if __name__ == "__main__":
    main()
