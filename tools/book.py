"""The course as a static HTML site: every notebook executed (default mode, what JupyterLab gives a
student) and converted with nbconvert, and an index page rendered from docs/LEARNING_PATH.md with a
table of the notebooks and their measured times. The site works offline: plotly's script and (when
Debian's libjs-mathjax is installed) MathJax are copied into it; nothing is loaded from the network.

    make book                                        # = python tools/book.py --out build/book
    python tools/book.py --out build/book --quick    # a smoke build: LABKIT_QUICK=1 for the kernels
    python tools/book.py --out /tmp/book --quick --execute 00_quickstart   # run one, convert the rest as committed

then open build/book/index.html. Each notebook runs in a kernel of its own (nbclient) whose working
directory is notebooks/, as in JupyterLab; its wall seconds, its kernel's CPU seconds (user + system,
the kernel's and its reaped children's, printed by a cell appended to the run and removed from the
page) and the load average before and after go into the index's table. In the pages, a plotly figure
is drawn by the bundled plotly.js from its saved JSON, and an ipywidgets control, which needs a live
kernel, is shown as its saved state: the controls' values as text and what their Output widgets held.
Exits 1 when a notebook failed (its page shows the run up to the error), 2 when LEARNING_PATH.md is missing.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import plotly
import plotly.io as pio
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CoalesceStreamsPreprocessor
from nbconvert.filters.markdown_mistune import markdown2html_mistune

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
# the kernel's CPU seconds, read as the notebook benchmark reads them: a cell appended to the run, then removed
from notebook_default_times import CPU_CELL, kernel_cpu_seconds  # noqa: E402
NOTEBOOKS = ROOT / "notebooks"
LEARNING_PATH = ROOT / "docs" / "LEARNING_PATH.md"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
DEBIAN_MATHJAX = Path("/usr/share/javascript/mathjax")  # apt-get install libjs-mathjax (MathJax 2.7)
MATHJAX_CONFIG = "MathJax.js?config=TeX-AMS_CHTML-full,Safe"  # nbconvert's own choice, served locally
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


# nbconvert's "lab" page without what would reach the network: no require.js (it would also hide
# window.Plotly from the figures' scripts), no widget manager from unpkg, no mermaid from cdnjs, and
# MathJax only from the site's own copy; plus a link back to the index.
PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js %}<script src="plotly.min.js"></script>{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block html_head_js_mathjax %}{% if resources.mathjax_url %}{{ super() }}{% endif %}{% endblock html_head_js_mathjax %}
{% block extra_css %}<style>
.book-nav { padding: 8px 16px; font-family: var(--jp-ui-font-family); }
.book-widget { border-left: 3px solid #f0ad4e; padding: 2px 8px; margin: 4px 0; font-style: italic; }
</style>{% endblock extra_css %}
{% block body_header %}{{ super() }}
<nav class="book-nav"><a href="index.html">&larr; The course: learning path and all notebooks</a></nav>
{% endblock body_header %}
"""


def notebook_links_to_pages(page: str) -> str:
    """href="../notebooks/NN_name.ipynb" and href="NN_name.ipynb" (a #fragment kept) -> href="NN_name.html"."""
    return re.sub(r'href="(?:\.\./notebooks/)?(\d\d_[\w-]+)\.ipynb(#[^"]*)?"',
                  lambda m: f'href="{m[1]}.html{m[2] or ""}"', page)


def html_output(markup: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"text/html": markup})


def widget_outputs(state: dict, model_id: str) -> list:
    """What a widget showed when the run ended, from the notebook's saved widget state, as outputs:
    a box -> its children's, an Output widget -> the outputs it held, an HTML or Label widget -> its
    value, a control -> one line "description: value"."""
    model = state.get(model_id)
    if model is None:
        return []
    fields = model["state"]
    if "children" in fields:
        return [out for child in fields["children"] for out in widget_outputs(state, child.removeprefix("IPY_MODEL_"))]
    if model["model_name"] == "OutputModel":
        return [nbformat.from_dict(out) for out in fields.get("outputs", [])]
    if model["model_name"] in ("HTMLModel", "HTMLMathModel", "LabelModel"):
        return [html_output(fields.get("value", ""))]
    if "_options_labels" in fields and fields.get("index") is not None:  # Dropdown, ToggleButtons, ...
        value = fields["_options_labels"][fields["index"]]
    elif "value" in fields:
        value = fields["value"]
    else:
        return []
    name = fields.get("description") or model["model_name"].removesuffix("Model")
    return [html_output(f'<p class="book-widget">{html.escape(str(name))}: <b>{html.escape(str(value))}</b></p>')]


def static_widgets(nb) -> None:
    """Each ipywidgets view in `nb` replaced by a note and its saved state (widget_outputs): a static
    page has no kernel to answer the controls, and no widget manager is loaded (it would come from a CDN)."""
    saved = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    note = html_output('<p class="book-widget">Interactive controls: they need a running kernel (open the '
                       'notebook in JupyterLab). Below, what they showed when this page was built.</p>')
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            outputs.extend([out] if view is None else [note, *widget_outputs(saved, view["model_id"])])
        cell.outputs = outputs


def plotly_as_html(nb) -> None:
    """Give every plotly figure output (its JSON: all a kernel run by nbclient sends, plotly's renderer
    being "plotly_mimetype" there) an HTML version: a div that the page's plotly.min.js draws."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            figure = out.get("data", {}).get(PLOTLY_MIME)
            if figure is not None:
                out.data["text/html"] = pio.to_html(figure, config=figure.get("config"), include_plotlyjs=False,
                                                    full_html=False, default_height=525, validate=False)


def execute(nb, cell_timeout: int) -> dict:
    """Run `nb` in place in a kernel whose working directory is notebooks/; its timings and error."""
    nb.cells.append(nbformat.v4.new_code_cell(CPU_CELL))
    client = NotebookClient(nb, timeout=cell_timeout, resources={"metadata": {"path": str(NOTEBOOKS)}})
    load_before, error = os.getloadavg()[0], ""
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1][:200]
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": kernel_cpu_seconds(nb), "load": (load_before, os.getloadavg()[0]), "error": error}


def title_of(nb, name: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return name


def cpu_text(row: dict) -> str:
    return "not measured in this build" if row["cpu"] is None else f"{row['cpu']:.0f} CPU-s" + (
        " (quick mode)" if row["mode"] == "quick" else "")


def index_page(learning_path: str, rows: list[dict], math_note: str) -> str:
    """The learning path (its {{NN}} placeholders filled with notebook NN's CPU seconds), then the table."""
    cpu = {row["name"][:2]: cpu_text(row) for row in rows}
    text = re.sub(r"\{\{(\d\d)\}\}", lambda m: cpu.get(m[1], "not measured in this build"), learning_path)
    lines = []
    for row in rows:
        wall = "" if row["wall"] is None else f"{row['wall']:.0f}"
        cpu_s = "" if row["cpu"] is None else f"{row['cpu']:.0f}"
        load = "" if row["load"] is None else "{:.2f} &rarr; {:.2f}".format(*row["load"])
        outcome = html.escape(row["error"]) or ("ok" if row["mode"] != "not executed" else "")
        lines.append(f'<tr><td><a href="{row["name"]}.html">{html.escape(row["title"])}</a></td><td>{row["mode"]}</td>'
                     f'<td class="n">{wall}</td><td class="n">{cpu_s}</td><td>{load}</td><td>{outcome}</td></tr>')
    built = time.strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>The course: labkit notebooks</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.45; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 3px 8px; vertical-align: top; }}
td.n {{ text-align: right; }} a.anchor-link {{ display: none; }} pre {{ background: #f6f6f6; padding: 8px; overflow-x: auto; }}
</style></head>
<body>
{notebook_links_to_pages(markdown2html_mistune(text))}
<h2>The notebooks in this build</h2>
<p>Built {built} on {os.cpu_count()} CPU core(s). Wall seconds, the kernel's CPU seconds (user + system, its
children included) and the 1-minute load average before and after each run.{math_note}</p>
<table><tr><th>notebook</th><th>mode</th><th>wall s</th><th>CPU-s</th><th>load average</th><th>outcome</th></tr>
{chr(10).join(lines)}
</table>
</body></html>
"""


def main() -> int:
    names = [p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    parser.add_argument("--quick", action="store_true", help="LABKIT_QUICK=1 for the kernels (a smoke build)")
    parser.add_argument("--execute", default=",".join(names), metavar="NAMES",
                        help="comma-separated notebook names to execute (default: all); the others are converted "
                             "as committed, without outputs ('' executes none)")
    parser.add_argument("--learning-path", type=Path, default=LEARNING_PATH)
    parser.add_argument("--mathjax", type=Path, default=DEBIAN_MATHJAX,
                        help="a MathJax 2 directory to copy into the site (default: Debian's libjs-mathjax); "
                             "when absent, math is left as TeX source")
    parser.add_argument("--cell-timeout", type=int, default=1800, help="seconds one cell may run")
    args = parser.parse_args()
    if not args.learning_path.is_file():
        print(f"book: {args.learning_path} is missing: the book's index is rendered from it "
              "(write it, or name another file with --learning-path)", file=sys.stderr)
        return 2
    execute_names = [n for n in args.execute.split(",") if n]
    unknown = sorted(set(execute_names) - set(names))
    if unknown:
        parser.error(f"no such notebook(s) in {NOTEBOOKS}: {', '.join(unknown)}")

    # the kernels inherit this process's environment: the mode, one OpenMP thread, labkit from this checkout
    for var in ("LABKIT_QUICK", "LABKIT_FULL"):
        os.environ.pop(var, None)
    if args.quick:
        os.environ["LABKIT_QUICK"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if str(ROOT) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PLOTLY_JS, args.out / "plotly.min.js")
    exporter = HTMLExporter(template_name="lab")
    exporter.raw_template = PAGE_TEMPLATE
    # consecutive stream outputs merged and a progress bar's '\r' redraws reduced to its last state, as JupyterLab shows them
    exporter.register_preprocessor(CoalesceStreamsPreprocessor, enabled=True)
    if (args.mathjax / "MathJax.js").is_file():
        shutil.copytree(args.mathjax, args.out / "mathjax", ignore=shutil.ignore_patterns("unpacked", "test"),
                        dirs_exist_ok=True)
        exporter.mathjax_url = f"mathjax/{MATHJAX_CONFIG}"
        math_note = " Math is typeset by a local copy of MathJax."
    else:
        exporter.mathjax_url = ""
        math_note = f" Math is shown as TeX source ({args.mathjax / 'MathJax.js'} not found: apt-get install libjs-mathjax)."

    rows = []
    for name in names:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        row = {"name": name, "title": title_of(nb, name), "wall": None, "cpu": None, "load": None, "error": "",
               "mode": "not executed"}
        if name in execute_names:
            print(f"{name}: executing ({'quick' if args.quick else 'default'} mode) ...", flush=True)
            row.update(execute(nb, args.cell_timeout), mode="quick" if args.quick else "default")
            print(f"{name}: {row['wall']:.0f} s wall, {cpu_text(row)}, load {row['load'][0]:.2f} -> "
                  f"{row['load'][1]:.2f} {row['error'] or 'ok'}", flush=True)
        static_widgets(nb)
        plotly_as_html(nb)
        page, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": row["title"]}})
        (args.out / f"{name}.html").write_text(notebook_links_to_pages(page), encoding="utf-8")
        rows.append(row)
    (args.out / "index.html").write_text(index_page(args.learning_path.read_text(encoding="utf-8"), rows, math_note),
                                         encoding="utf-8")
    print(f"book: {args.out / 'index.html'}")
    failed = [row["name"] for row in rows if row["error"]]
    if failed:
        print(f"book: notebooks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
