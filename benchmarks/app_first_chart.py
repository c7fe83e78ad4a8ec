"""What a user waits for in the browser: click on Run -> the run's first chart on screen.

    python benchmarks/app_first_chart.py [--repeats 3] [--plain-streamlit] [--first-run-after S]

Starts the app as `make app` does (python labkit/app/launcher.py with the Makefile's options; with
--plain-streamlit: `streamlit run app.py`, where the fork server starts only when the first page
loads), on a free loopback port with LABKIT_RUNS_DIR in a temporary folder, and opens it in
Debian's headless chromium (playwright, a fresh browser profile each repeat). It clicks Run as
soon as the button is enabled and times, in the page, click -> the forgetting chart ("Accuracy
on each task ...") of that run drawn, not stale, with a point (task 1 evaluated: the app draws the
chart's empty axes as soon as the run starts, and that does not count):

  cold: the very first Run, right after the server started and the page loaded as fast as it can
        (each cold repeat starts a fresh server and browser profile); with --first-run-after S,
        S seconds after the page loaded instead (the fork server has had time to import: what a
        first Run of a page costs once the server is warm);
  warm: a second Run in the same page once the first has finished (seed changed first, so its
        chart differs from the one already drawn).

Each Run is also split, from the run folder as a side thread sees it (polled every 5 ms): click ->
run folder made (start_background_run) -> run_started (the forked child has read its config,
loaded the data and built the model) -> first task_evaluated (task 1 trained and tested) ->
chart drawn. Config: the app's defaults (digits, class-il, 5 tasks, finetune, mlp, 5 epochs).
Prints min / median / max with the CPU count and the load average. Figures only: nothing asserts.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
# the options the Makefile's `app` target passes
OPTIONS = ["--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
TITLE = "Accuracy on each task"

# In the page: on a click on Run, note the time and the forgetting chart's data drawn then, and
# look every animation frame for a forgetting chart that is not stale and shows other data.
PROBE = """
window.__clicks = [];
const forgettingChart = () => {
  for (const el of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    const box = el.closest('[data-testid="stElementContainer"]');
    const title = el.querySelector('.gtitle');
    const plot = el.querySelector('.js-plotly-plot');
    if (!title || !plot || !title.textContent.includes('%s')) continue;
    return {stale: box !== null && box.getAttribute('data-stale') === 'true', data: JSON.stringify(plot.data),
            shown: el.getBoundingClientRect().height > 0,
            points: (plot.data || []).some((trace) => (trace.x || []).length > 0)};
  }
  return null;
};
document.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (!button || button.innerText.trim() !== 'Run') return;
  const before = forgettingChart();
  const click = {wall: Date.now(), perf: performance.now(), chart: null, url: null, old: before && before.data,
                 oldRun: new URLSearchParams(location.search).get('run')};
  window.__clicks.push(click);
  const look = () => {
    const run = new URLSearchParams(location.search).get('run');
    if (click.url === null && run && run !== click.oldRun) click.url = performance.now() - click.perf;
    const now = forgettingChart();
    if (click.url !== null && now && !now.stale && now.shown && now.points && now.data !== click.old) {
      click.chart = performance.now() - click.perf;
      click.chartWall = Date.now();
      const chunk = performance.getEntriesByType('resource').find((e) => e.name.includes('/PlotlyChart.'));
      if (chunk) click.plotlyChunk = [chunk.startTime - click.perf, chunk.responseEnd - click.perf];
      return;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}, true);
""" % TITLE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(plain: bool, port: int, runs_dir: Path) -> subprocess.Popen:
    launcher = ["-m", "streamlit", "run", "app.py"] if plain else ["labkit/app/launcher.py"]
    env = {**os.environ, "LABKIT_RUNS_DIR": str(runs_dir), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, *launcher, "--server.address", "127.0.0.1", "--server.port", str(port),
                             *OPTIONS], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_healthy(server: subprocess.Popen, url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app server ended (exit {server.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


class FolderWatch(threading.Thread):
    """Wall-clock times at which a new run folder, its run_started and its first task_evaluated
    event appear in `runs_dir`, and when its result says finished."""

    def __init__(self, runs_dir: Path):
        super().__init__(daemon=True)
        self.runs_dir, self.seen, self.times, self.done = runs_dir, set(), {}, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            now = time.time()
            if self.runs_dir.is_dir():
                for path in self.runs_dir.iterdir():
                    if path.name.startswith("."):
                        continue
                    marks = self.times.setdefault(path.name, {})
                    marks.setdefault("folder", now)
                    if (path / "pid").exists():
                        marks.setdefault("pid", now)
                    events = path / "events.jsonl"
                    text = events.read_text() if events.exists() else ""
                    for kind in ("run_started", "task_evaluated", "run_finished"):
                        if f'"type": "{kind}"' in text:
                            marks.setdefault(kind, now)
            time.sleep(0.005)

    def wait_finished(self, run_id: str, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while "run_finished" not in self.times.get(run_id, {}):
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish in {timeout} s")
            time.sleep(0.05)


def press_run(page, watch: FolderWatch, timeout_ms: int = 300_000) -> dict:
    """Click Run once it is enabled; wait for the run's chart; return the click's timings (s)."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Run", exact=True)
    expect(button).to_be_enabled(timeout=timeout_ms)
    button.click()
    n = page.evaluate("window.__clicks.length")
    page.wait_for_function(f"window.__clicks.length >= {n} && window.__clicks[{n - 1}].chart !== null",
                           timeout=timeout_ms, polling=50)
    click = page.evaluate(f"window.__clicks[{n - 1}]")
    run_id = page.evaluate("new URLSearchParams(location.search).get('run')")
    marks = watch.times.get(run_id, {})
    since = click["wall"] / 1000
    split = {k: marks[k] - since for k in ("folder", "pid", "run_started", "task_evaluated") if k in marks}
    chunk = click.get("plotlyChunk")
    if chunk and chunk[0] > 0:  # fetched after this click
        split["chunk_start"], split["chunk_end"] = chunk[0] / 1000, chunk[1] / 1000
    return {"chart": click["chart"] / 1000, "url": click["url"] / 1000, **split, "run_id": run_id}


@contextlib.contextmanager
def served_page(browser, plain: bool, tmp: Path, index: int, probe: str):
    """A fresh app server (as `make app` starts it, or plain streamlit) on a free port with its own
    runs folder watched, and a page with an empty cache and `probe` installed, opened on it:
    yields (page, watch, seconds from server start to page loaded); stops both afterwards."""
    runs_dir = tmp / f"runs-{index}"
    watch = FolderWatch(runs_dir)
    watch.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1600, "height": 2100})  # empty cache and storage
    context.add_init_script(probe)
    page = context.new_page()
    started = time.perf_counter()
    server = start_server(plain, port, runs_dir)
    try:
        wait_healthy(server, url)
        page.goto(url)
        yield page, watch, started
    finally:
        context.close()
        watch.done.set()
        try:
            os.killpg(server.pid, 15)
        except ProcessLookupError:
            pass
        server.wait(timeout=30)


def one_repeat(browser, plain: bool, tmp: Path, index: int, first_run_after: float) -> tuple[dict, dict, float]:
    from playwright.sync_api import expect

    with served_page(browser, plain, tmp, index, PROBE) as (page, watch, started):
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=120_000)
        page_ready = time.perf_counter() - started
        page.wait_for_timeout(1000 * first_run_after)
        cold = press_run(page, watch)
        watch.wait_finished(cold["run_id"])
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=60_000)
        seed = page.get_by_test_id("stSidebar").get_by_role("spinbutton", name="Seed")
        seed.fill("1")
        seed.press("Enter")
        expect(page.get_by_text("--seed 1").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(500)  # let that rerun settle
        warm = press_run(page, watch)
        watch.wait_finished(warm["run_id"])
        return cold, warm, page_ready


def spread(values: list[float]) -> str:
    return f"{min(values):5.2f} / {statistics.median(values):5.2f} / {max(values):5.2f}"


def report(label: str, rows: list[dict]) -> None:
    charts = [r["chart"] for r in rows]
    print(f"{label}: click -> chart (min / median / max) {spread(charts)} s"
          f"   each: {', '.join(f'{c:.2f}' for c in charts)}")
    steps = [("folder", "run folder made (start_background_run)"), ("pid", "fork server replied (pid file)"),
             ("url", "page's URL names the new run"), ("run_started", "child's run_started event"),
             ("task_evaluated", "task 1 evaluated"), ("chunk_start", "browser asks for plotly's JS chunk"),
             ("chunk_end", "plotly's JS chunk received")]
    for key, text in steps:
        values = [r[key] for r in rows if key in r]
        if values:
            print(f"    click -> {text:40s} median {statistics.median(values):5.2f} s")
    gaps = [r["chart"] - r["task_evaluated"] for r in rows if "task_evaluated" in r]
    if gaps:
        print(f"    task 1 evaluated -> chart drawn (page refresh + plotly)  median {statistics.median(gaps):5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="fresh servers started (one cold and one warm Run each)")
    parser.add_argument("--plain-streamlit", action="store_true",
                        help="start `streamlit run app.py` (the fork server starts when the page loads) "
                             "instead of python labkit/app/launcher.py")
    parser.add_argument("--first-run-after", type=float, default=0.0, metavar="S",
                        help="seconds to wait after the page loaded before the first Run (default 0: at once)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    launcher = "streamlit run app.py" if args.plain_streamlit else "python labkit/app/launcher.py (make app)"
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before; {launcher}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}; app defaults (digits, 5 tasks, 5 epochs, mlp)")
    colds, warms, ready = [], [], []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for i in range(args.repeats):
                cold, warm, page_ready = one_repeat(browser, args.plain_streamlit, Path(tmp), i, args.first_run_after)
                colds.append(cold)
                warms.append(warm)
                ready.append(page_ready)
                print(f"  repeat {i + 1}: server start -> Run enabled {page_ready:.2f} s; cold {cold['chart']:.2f} s "
                      f"(fork server replied after {cold.get('pid', float('nan')):.2f} s), warm {warm['chart']:.2f} s",
                      flush=True)
        finally:
            browser.close()
    print(f"server start -> page loaded, Run enabled: {spread(ready)} s")
    first = "first Run, at once" if not args.first_run_after else f"first Run, {args.first_run_after:g} s after"
    report(f"cold ({first} the page loaded on a fresh server)", colds)
    report("warm (second Run, same page)", warms)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after")


if __name__ == "__main__":
    main()
