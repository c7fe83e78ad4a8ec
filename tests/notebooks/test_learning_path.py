"""The learning path (docs/LEARNING_PATH.md) and the notebooks agree: each notebook opens with
what the student will be able to explain, what to read first and its measured default-mode time,
as the path's table gives them; each ends with what its own run showed; the README draws the same
path; and every cell has its own id (nbformat 4.5), so JupyterLab's cell tags stay attached."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATH_PAGE = (ROOT / "docs" / "LEARNING_PATH.md").read_text()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ROW = re.compile(r"^\| \[(\d\d) · [^]]+\]\(\.\./notebooks/([^)]+)\) \| (.+?) \| (.+?) \| (.+?) \|$", re.M)
ROWS = {m.group(1): m.groups()[1:] for m in ROW.finditer(PATH_PAGE)}


def drawing(text: str) -> str:
    return re.search(r"```\n(00 quick start.*?)```", text, re.S).group(1)


def test_the_path_lists_every_notebook_once():
    assert sorted(ROWS) == [p.name[:2] for p in NOTEBOOKS]
    assert all(ROWS[p.name[:2]][0] == p.name for p in NOTEBOOKS)


def test_the_readme_draws_the_same_path():
    assert drawing((ROOT / "README.md").read_text()) == drawing(PATH_PAGE)
    assert "docs/LEARNING_PATH.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_notebook_opens_with_the_path_and_ends_with_its_run(path):
    cells = json.loads(path.read_text())["cells"]
    _, explain, read_first, time = ROWS[path.name[:2]]
    opening = "".join(cells[1]["source"])
    assert cells[1]["cell_type"] == "markdown" and opening.startswith("**Where this notebook stands**")
    assert f"**You will be able to explain** {explain}." in opening
    assert f"**Read first:** {read_first}." in opening
    assert re.fullmatch(r"\d+ CPU-s", time), f"{path.name}: the path's time {time!r} is not measured CPU seconds"
    assert f"**Time:** {time} in default mode" in opening
    # a markdown heading before the cell that generates the summary, or the summary's own generated heading
    ending = ["".join(c["source"]) for c in cells[-4:]]
    assert any(s.startswith(("## What this notebook showed", "## 7. What this notebook showed")) or
               'say("### What this notebook showed' in s for s in ending), f"{path.name} ends without its summary"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_cell_has_its_own_id(path):
    notebook = json.loads(path.read_text())
    ids = [c.get("id") for c in notebook["cells"]]
    assert (notebook["nbformat"], notebook["nbformat_minor"]) >= (4, 5)
    assert None not in ids and len(set(ids)) == len(ids), f"{path.name}: cells without an id or sharing one"
