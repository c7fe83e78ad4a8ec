"""Why the notebooks' widget cells never capture outputs in an Output widget: one slider cell that
draws a plotly figure, executed again and again in one kernel through nbclient (as nbmake does),
written both ways (captured with `with view:`, or the Output's contents replaced whole, as the
notebooks do); a cell that ends at the cell timeout is a stall (its reply reached nbclient only
when the poll for it timed out).

    python benchmarks/widget_cell_stalls.py [--repeats 150] [--cell-timeout 5]

Prints, for each way, the median cell time and the stalls. Figures only; nothing is asserted.
"""
from __future__ import annotations

import argparse
import statistics
import time

import nbformat
from nbclient import NotebookClient

SETUP = "import ipywidgets as widgets\nimport plotly.graph_objects as go\nfrom IPython.display import display\n"
CELLS = {
    "Output widget": '''
slider, view = widgets.FloatSlider(), widgets.Output()
def redraw(change=None):
    with view:
        view.clear_output(wait=True)
        go.Figure(go.Bar(y=[1, 2, slider.value])).show()
slider.observe(redraw, names="value")
redraw()
display(widgets.VBox([slider, view]))
''',
    "Output replaced": '''
from labkit.views import plots
slider, text, view = widgets.FloatSlider(), widgets.HTML(), widgets.Output()
display(widgets.VBox([slider, text, view]))
def redraw(change=None):
    text.value = f"c = {slider.value}"
    view.outputs = (plots.widget_output(go.Figure(go.Bar(y=[1, 2, slider.value]))),)
slider.observe(redraw, names="value")
redraw()
''',
}


def cell_times(source: str, repeats: int, cell_timeout: int) -> list[float]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)] +
                                  [nbformat.v4.new_code_cell(source) for _ in range(repeats)])
    client = NotebookClient(nb, timeout=cell_timeout)
    times = []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            started = time.perf_counter()
            client.execute_cell(cell, index)
            times.append(time.perf_counter() - started)
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=150)
    parser.add_argument("--cell-timeout", type=int, default=5)
    args = parser.parse_args()
    for name, source in CELLS.items():
        times = cell_times(source, args.repeats, args.cell_timeout)
        stalls = sum(t >= 0.9 * args.cell_timeout for t in times)
        print(f"{name:<14} {len(times)} cells: median {1000 * statistics.median(times):.0f} ms, "
              f"stalls (a cell at the {args.cell_timeout} s timeout) {stalls}", flush=True)


if __name__ == "__main__":
    main()
