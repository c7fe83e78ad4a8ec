"""Notebook widget cells are written so that executing them outside a browser never stalls.

An ipywidgets Output widget that captures outputs makes nbclient (under nbmake, nbconvert) send a
comm message to the kernel for every captured output, on the shell socket it is at the same
time waiting on for the cell's reply; in 3 to 8 such cells in a hundred that reply then reaches
nbclient only when its poll times out (300 s under `make test`). The notebooks replace an Output's
contents whole instead (labkit.views.plots.widget_output; benchmarks/widget_cell_stalls.py measures it).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


CAPTURING = re.compile(r"^\s*with\s|\.capture\(|clear_output\(|\binteract(ive_output)?\(|@interact", re.M)


def capturing_cells(path: Path) -> list[int]:
    """Code cells (by position among code cells) that capture outputs in an Output widget."""
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return [i for i, src in enumerate(code) if "widgets.Output(" in src and CAPTURING.search(src)
            or "interact" in src and CAPTURING.search(src)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_captures_outputs_in_an_output_widget(path):
    assert not capturing_cells(path), f"{path.name}: code cells {capturing_cells(path)} capture outputs"


@pytest.mark.parametrize("source, captures", [
    ("view = widgets.Output()\nwith view:\n    fig.show()\n", True),
    ("view = widgets.Output()\nview.clear_output(wait=True)\n", True),
    ("out = widgets.Output()\n@out.capture()\ndef f(): pass\n", True),
    ("widgets.interact(f, x=1)\n", True),
    ("view = widgets.Output()\nview.outputs = (plots.widget_output(fig),)\n", False),
])
def test_the_check_tells_capturing_from_replacing(tmp_path, source, captures):
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": [source]}]}))
    assert bool(capturing_cells(path)) == captures
