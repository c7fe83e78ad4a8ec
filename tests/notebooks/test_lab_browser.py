"""JupyterLab in a real browser: `jupyter lab` (as `make lab` starts it) on a copy of notebook 01, and
Debian's chromium driven by playwright: Run > Run All Cells, every cell executed without an error, every
plotly figure drawn by plotly's JupyterLab renderer as a real chart, then the "shift c" slider moved with
the keyboard: its text line and both of its figures must follow. A screenshot of the slider's cell goes to
test-artifacts/lab.png (look at it).

Everything the server, the kernel and the browser write stays under tmp_path (Jupyter's config, data and
runtime dirs, IPython's dir, the lab's settings and workspaces, HOME itself): the repository's notebook is
only read. The server runs in a session of its own and is shut down, its kernels with it, whatever happens.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import CHROMIUM, FLAGS, free_port, needs_chromium, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "01_softmax_non_identifiability.ipynb"
# the "shift c" slider's cell, an index among all the notebook's cells (found by its source, so that a cell
# added above it moves it without breaking the test)
SLIDER_CELL = next(i for i, c in enumerate(json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())["cells"])
                   if "shift_slider = widgets.FloatSlider" in "".join(c["source"]))
# Generous for a slow, shared 2-core machine; every wait ends as soon as its condition holds.
START_MS = 180_000  # the server up, the lab loaded, the notebook's kernel started and idle
RUN_ALL_MS = 300_000  # the run of all cells (nbmake's --nbmake-timeout for the same notebook)
STEP_MS = 60_000  # anything else: figures drawn, the notebook saved, a slider move answered
# The lab's user settings, written into the test's own settings dir: no toast asking "Would you like to
# receive official Jupyter news?" and no update check (there is no network either).
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}

pytestmark = [pytest.mark.browser, needs_chromium]


def children(pid: int) -> set[int]:
    """The processes whose parent is pid: the server's kernels, each the leader of a session of its own."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.add(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def api(url: str, token: str, path: str, method: str = "GET") -> int:
    request = urllib.request.Request(f"{url}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status


@pytest.fixture
def lab(tmp_path):
    """`jupyter lab` on a copy of the notebook in tmp_path, on a free loopback port with a token of its own.
    Yields (url, token, the copy, a function that notes the server's kernels)."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    copy = notebooks / NOTEBOOK
    shutil.copyfile(ROOT / "notebooks" / NOTEBOOK, copy)
    dirs = {var: tmp_path / name for var, name in (
        ("HOME", "home"), ("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"), ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ("MPLCONFIGDIR", "matplotlib"))}
    for path in dirs.values():
        path.mkdir()
    for name, settings in USER_SETTINGS.items():
        path = dirs["JUPYTERLAB_SETTINGS_DIR"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    # as the Makefile does: labkit from this checkout (the kernel inherits it), quick settings, one thread
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **{var: str(path) for var, path in dirs.items()}, "PYTHONPATH": pythonpath,
           "LABKIT_QUICK": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.token={token}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--LabApp.user_settings_dir={dirs['JUPYTERLAB_SETTINGS_DIR']}",
           f"--LabApp.workspaces_dir={dirs['JUPYTERLAB_WORKSPACES_DIR']}"]
    if os.getuid() == 0:
        cmd.append("--allow-root")  # as `make lab` does for root
    log = tmp_path / "jupyter-lab.log"
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, cwd=notebooks, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    kernels: set[int] = set()
    try:
        wait_until_up(lambda: api(url, token, "/api/status") == 200, server, START_MS / 1000, "jupyter lab",
                      lambda: log.read_text(errors="replace"))
        yield url, token, copy, lambda: kernels.update(children(server.pid))
    finally:
        kernels.update(children(server.pid))
        try:  # a clean shutdown first: the server shuts its kernels down and exits
            api(url, token, "/api/shutdown", method="POST")
            server.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            kill_group(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_group(server.pid, signal.SIGKILL)
                server.wait(timeout=20)
        for pid in kernels:  # whatever of them is left: a kernel's session is its own, its group id its pid
            kill_group(pid, signal.SIGKILL)


# The open notebook as the page shows it: the kernel's status (status bar), every code cell's prompt.
STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const kernel = document.querySelector('#jp-main-statusbar [title^="Change kernel for"]');
  if (!panel || !kernel) return null;
  return {kernel: kernel.textContent.trim(),
          prompts: [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim())};
}"""
IDLE = r"/\|\s*Idle$/.test(s.kernel)"
CELLS = "document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')"
# The plotly charts inside an element, each as plotly's JupyterLab renderer drew it: whether it is that
# renderer's (not an HTML or text fallback), whether it has an SVG of a real size with traces drawn in it,
# and what it shows (its traces' names and values, its shapes, its bars' outlines), to compare before and after.
CHARTS_JS = """root => [...root.querySelectorAll('.js-plotly-plot')].map(gd => {
  const svg = gd.querySelector('svg.main-svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {
    renderer: gd.classList.contains('jp-RenderedPlotly'),
    drawn: !!svg && box.width > 0 && box.height > 0 && gd.querySelectorAll('.main-svg .trace').length > 0,
    traces: (gd._fullData || []).map(t => ({name: t.name, y: Array.from(t.y || [], Number)})),
    shapes: ((gd._fullLayout || {}).shapes || []).map(s => [s.x0, s.x1]),
    bars: [...gd.querySelectorAll('.barlayer .trace path')].map(p => p.getAttribute('d')).join(' '),
    text: gd.textContent.slice(0, 200),
  };
})"""


def test_run_all_cells_and_move_the_shift_slider(lab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, token, copy, note_kernels = lab
    repo_notebook = ROOT / "notebooks" / NOTEBOOK
    original = hashlib.sha256(repo_notebook.read_bytes()).hexdigest()
    cells = json.loads(copy.read_text())["cells"]
    code = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"]
    assert SLIDER_CELL in code and "shift c" in "".join(cells[SLIDER_CELL]["source"])
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=FLAGS,
            env={**os.environ, "HOME": str(tmp_path / "home")}, viewport={"width": 1400, "height": 1300})
        page = browser.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        slider_cell = panel.locator(".jp-Notebook .jp-Cell").nth(SLIDER_CELL)
        show_outputs = "area => area.scrollIntoView({block: 'center'})"
        try:
            page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
            # the notebook's kernel (its metadata's python3) starts by itself
            page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return !!s && {IDLE} && "
                                   f"s.prompts.length === {len(code)}; }}", timeout=START_MS)
            note_kernels()
            assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_text_contents()

            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
            # done: the kernel idle and every prompt numbered; or stopped: idle, nothing queued and some cells
            # never run (Run All stops at the first error)
            page.wait_for_function(f"""() => {{
                const s = ({STATE_JS})();
                if (!s || !{IDLE} || s.prompts.some(p => p === '[*]:')) return false;
                return s.prompts.some(p => /^\\[\\d+\\]:$/.test(p));
            }}""", timeout=RUN_ALL_MS)
            prompts = page.evaluate(STATE_JS)["prompts"]

            # save the copy and read its outputs: the exact record of what ran and of any error
            unsaved = copy.stat().st_mtime_ns
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^File$")).click()
            page.locator('.lm-Menu-item[data-command="docmanager:save"]').click()
            saved = wait_for_saved(copy, unsaved)
            errors = [(i, out.get("ename"), out.get("evalue")) for i in code
                      for out in saved[i]["outputs"] if out["output_type"] == "error"]
            assert not errors, f"cells raised (cell index, error, message): {errors}"
            assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"cells left unrun: {prompts}"
            counts = [saved[i]["execution_count"] for i in code]
            assert None not in counts, f"the saved notebook has unrun cells: {counts}"
            assert counts == sorted(counts) and len(set(counts)) == len(code), counts

            # every plotly figure the kernel sent is drawn by plotly's own renderer as a chart
            figures = {i: sum("application/vnd.plotly.v1+json" in out.get("data", {}) for out in saved[i]["outputs"])
                       for i in code}
            figures = {i: n for i, n in figures.items() if n}
            assert figures, "no cell displayed a plotly figure"
            figures[SLIDER_CELL] = 2  # the slider's cell shows two (kept as outputs or in a widget)
            page.wait_for_function(f"""expected => expected.every(([i, n]) => {{
                const charts = [...{CELLS}[i].querySelectorAll('.js-plotly-plot')];
                return charts.length >= n && charts.every(gd => gd.querySelector('svg.main-svg .trace'));
            }})""", arg=sorted(figures.items()), timeout=STEP_MS)
            all_charts = panel.locator(".jp-Notebook").evaluate(CHARTS_JS)
            assert len(all_charts) >= sum(figures.values())
            for chart in all_charts:
                assert chart["renderer"] and chart["drawn"], f"not a chart drawn by jupyterlab-plotly: {chart}"

            # the slider: its text line starts at c = 0 and its first figure's student sits on the teacher
            text = slider_cell.locator(".widget-html-content")
            expect(text).to_contain_text("c = +0.00")
            before = slider_cell.evaluate(CHARTS_JS)
            assert len(before) == 2, before
            student = student_logits(text.text_content())
            assert named(before[0], "student") == pytest.approx(student), (student, before[0])
            slider_cell.locator(".jp-Cell-outputArea").evaluate(show_outputs)
            handle = slider_cell.locator(".noUi-handle")
            handle.focus()
            for _ in range(3):
                handle.press("ArrowRight")
            # three steps of 0.25; continuous_update=False: each step is sent, the last one is c = +0.75
            expect(text).to_contain_text("c = +0.75", timeout=STEP_MS)
            expect(slider_cell.locator(".widget-readout")).to_have_text("0.75")
            page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return !!s && {IDLE}; }}", timeout=STEP_MS)
            student = student_logits(text.text_content())
            try:  # both figures redrawn for c = +0.75: the student's bars at the logits the text line shows
                page.wait_for_function(f"""([student, before]) => {{
                    const charts = ({CHARTS_JS})({CELLS}[{SLIDER_CELL}]);
                    if (charts.length !== 2 || !charts.every(c => c.renderer && c.drawn)) return false;
                    const bars = charts[0].traces.find(t => t.name === 'student');
                    return !!bars && bars.y.length === student.length
                        && bars.y.every((v, k) => Math.abs(v - student[k]) < 1e-9)
                        && charts.every((c, k) => JSON.stringify([c.traces, c.shapes, c.bars])
                                              !== JSON.stringify([before[k].traces, before[k].shapes, before[k].bars]));
                }}""", arg=[student, before], timeout=STEP_MS)
            except Exception as timeout:
                after = slider_cell.evaluate(CHARTS_JS)
                log = page.locator(".jp-LogConsoleStatusItem [title]")
                logged = log.first.get_attribute("title") if log.count() else "nothing"
                raise AssertionError(
                    f"the slider moved to c = +0.75 and its text line followed (student logits {student}), but "
                    f"not its figures: their student bars {[named(c, 'student') for c in after[:1]]}, the "
                    f"marker shapes {[c['shapes'] for c in after[1:]]}. JupyterLab's log console holds {logged}: "
                    f"outputs a widget callback sends land there, not in the cell (and a plotly figure given to "
                    f"display(fig, display_id=True) is published without the display id, plotly's "
                    f"_ipython_display_ bypassing it, so handle.update(fig) sends a new output)") from timeout
            page.wait_for_timeout(500)  # let plotly's last transition settle before the picture
        finally:
            try:  # the slider's outputs in view (the moves scrolled the notebook to the cell's top)
                slider_cell.locator(".jp-Cell-outputArea").evaluate(show_outputs, timeout=5000)
            except Exception:
                pass
            try:
                page.screenshot(path=str(artifacts / "lab.png"))
            except Exception as error:  # a dead page must not hide what failed before
                print(f"no screenshot: {error}")
            browser.close()
            if page_errors:
                print("errors in the page:", *page_errors, sep="\n")
    assert hashlib.sha256(repo_notebook.read_bytes()).hexdigest() == original, "the repository's notebook changed"


def wait_for_saved(path: Path, unsaved: int) -> list[dict]:
    """The cells of the notebook once it is saved: written anew (its mtime no longer `unsaved`), with outputs."""
    deadline = time.monotonic() + STEP_MS / 1000
    while True:
        try:
            if path.stat().st_mtime_ns != unsaved:
                cells = json.loads(path.read_text())["cells"]
                if any(c.get("execution_count") is not None for c in cells):
                    return cells
        except (OSError, ValueError, KeyError):
            pass  # not yet there, or caught half-written
        assert time.monotonic() < deadline, f"{path} was not saved with its outputs"
        time.sleep(0.2)


def student_logits(line: str) -> list[float]:
    """The student's logits as the slider's text line prints them ("student logits [2.0, 0.0, -1.0]")."""
    match = re.search(r"student logits \[([^\]]*)\]", line)
    assert match, line
    return [float(v) for v in match.group(1).split(",")]


def named(chart: dict, name: str) -> list[float]:
    """The values of the first trace of that name in a chart."""
    return next((t["y"] for t in chart["traces"] if t["name"] == name), [])
