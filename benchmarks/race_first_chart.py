"""What a user waits for in the Race tab: click on "Run race" -> the race's first chart on screen.

    python benchmarks/race_first_chart.py [--repeats 3]

Each repeat starts a fresh app server as `make app` does (app_first_chart.start_server), opens it
in headless chromium with a fresh browser profile, clicks the tab "Race", and clicks "Run race" as
soon as it is enabled: three background runs (finetune, lwf, lwf-bsr; digits, task-IL, the
sidebar's defaults: 5 tasks, 5 epochs, mlp): the cold race. Once it has finished, the seed is
changed in the sidebar and "Run race" clicked again in the same page: the warm race. Timed in the
page, from each click (the race's URL parameter changed and the chart's data differing from the
one shown at the click, so the last race's chart does not count):

  chart:    the "Average accuracy (task-aware)" chart (key race_acc) drawn, not stale, with at
            least one point (some runner's task 1 evaluated);
  chart x3: the same chart with a point on each of the three runners' curves;
  finished: the leader line reads "Average accuracy at the end" (all three runners finished).

From the run folders, as a side thread sees them (app_first_chart.FolderWatch, polled every 5 ms):
click -> each runner's first task_evaluated event, and its run_finished event. Prints min / median
/ max with the CPU count and the load average before and after. Figures only: nothing asserts.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_first_chart import CHROMIUM, FLAGS, FolderWatch, served_page, spread  # noqa: E402

RUNNERS = ("finetune", "lwf", "lwf-bsr")  # labkit.app.race.DEFAULT_METHODS, the race tab's default
TIMEOUT_MS = 600_000

# In the page: on a click on "Run race", note the time, then look every animation frame for the
# race's accuracy chart (not stale, on screen) with a point, with a point on every runner's curve,
# and for the leader line of a finished race.
PROBE = """
window.__races = [];
const raceChart = () => {
  const box = document.querySelector('.st-key-race_acc');
  const plot = box && box.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  if (!plot || !plot.data) return null;
  const element = box.closest('[data-testid="stElementContainer"]') || box;
  return {stale: element.getAttribute('data-stale') === 'true', shown: plot.getBoundingClientRect().height > 0,
          points: plot.data.map((trace) => (trace.x || []).length), data: JSON.stringify(plot.data)};
};
const raceParam = () => new URLSearchParams(location.search).get('race');
const finishedLine = () => [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
  .some((el) => el.innerText.startsWith('Average accuracy at the end'));
document.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (!button || button.innerText.trim() !== 'Run race') return;
  const before = raceChart();
  const race = {wall: Date.now(), perf: performance.now(), chart: null, chartAll: null, finished: null,
                old: before && before.data, oldRace: raceParam()};
  window.__races.push(race);
  const look = () => {
    const since = performance.now() - race.perf;
    const now = raceChart();
    const started = raceParam() !== null && raceParam() !== race.oldRace;
    if (!started) { requestAnimationFrame(look); return; }
    if (now && !now.stale && now.shown && now.data !== race.old) {
      if (race.chart === null && now.points.some((n) => n > 0)) race.chart = since;
      if (race.chartAll === null && now.points.length >= %d && now.points.every((n) => n > 0)) race.chartAll = since;
    }
    if (race.finished === null && race.chart !== null && finishedLine()) race.finished = since;
    if (race.finished === null || race.chart === null) requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}, true);
""" % len(RUNNERS)


def race_ids(page) -> dict[str, str]:
    """label -> run id, from the page's URL (?race=label:id,...)."""
    text = page.evaluate("new URLSearchParams(location.search).get('race') || ''")
    return dict(item.split(":", 1) for item in text.split(",") if ":" in item)


def press_run_race(page, watch: FolderWatch, n: int = 1) -> dict:
    """Click "Run race" (the n-th time in this page) once it is enabled; wait until the race has
    finished on screen; return the click's timings (s): the page's, and each runner's from its run
    folder."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Run race")
    expect(button).to_be_enabled(timeout=TIMEOUT_MS)
    button.click()
    i = n - 1
    page.wait_for_function(f"window.__races.length === {n} && window.__races[{i}].finished !== null"
                           f" && window.__races[{i}].chart !== null", timeout=TIMEOUT_MS, polling=100)
    race = page.evaluate(f"window.__races[{i}]")
    since = race["wall"] / 1000
    row = {key: float("nan") if race[key] is None else race[key] / 1000 for key in ("chart", "chartAll", "finished")}
    for label, run_id in race_ids(page).items():
        watch.wait_finished(run_id, timeout=TIMEOUT_MS / 1000)
        marks = watch.times.get(run_id, {})
        row.update({(label, kind): marks[kind] - since for kind in ("task_evaluated", "run_finished") if kind in marks})
    return row


def one_repeat(browser, tmp: Path, index: int) -> tuple[dict, dict, float]:
    from playwright.sync_api import expect

    with served_page(browser, False, tmp, index, PROBE) as (page, watch, started):
        page.get_by_role("tab", name="Race").click()
        expect(page.get_by_role("button", name="Run race")).to_be_enabled(timeout=120_000)
        page_ready = time.perf_counter() - started
        cold = press_run_race(page, watch, 1)
        seed = page.get_by_test_id("stSidebar").get_by_role("spinbutton", name="Seed")
        seed.fill("1")
        seed.press("Enter")
        expect(page.get_by_text(re.compile(r"sweep race .*--seed 1 "))).to_be_visible(timeout=60_000)
        page.wait_for_timeout(500)  # let that rerun settle
        return cold, press_run_race(page, watch, 2), page_ready


def figures(label: str, values: list[float]) -> str:
    return f"{label:58s} {spread(values)} s   each: {', '.join(f'{v:.2f}' for v in values)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh servers started (one cold and one warm race each)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before; "
          f"python labkit/app/launcher.py (make app); OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}; "
          f"race {', '.join(RUNNERS)} on digits, task-IL, app defaults (5 tasks, 5 epochs, mlp)")
    colds, warms, ready = [], [], []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for i in range(args.repeats):
                cold, warm, page_ready = one_repeat(browser, Path(tmp), i)
                colds.append(cold)
                warms.append(warm)
                ready.append(page_ready)
                for which, row in (("cold", cold), ("warm", warm)):
                    print(f"  repeat {i + 1} {which}: chart {row['chart']:.2f} s, all three curves "
                          f"{row['chartAll']:.2f} s, finished {row['finished']:.2f} s", flush=True)
        finally:
            browser.close()
    print("(min / median / max)")
    print(figures("server start -> page loaded, Race tab, Run race enabled", ready))
    for which, rows in (("cold (first race of a fresh server and page)", colds),
                        ("warm (second race, same page)", warms)):
        print(which)
        report(rows)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after")


def report(rows: list[dict]) -> None:
    print(figures("click -> race_acc chart drawn with a point", [r["chart"] for r in rows]))
    print(figures("click -> race_acc chart with a point on all three curves", [r["chartAll"] for r in rows]))
    print(figures("click -> leader line 'Average accuracy at the end'", [r["finished"] for r in rows]))
    for kind, text in (("task_evaluated", "first task_evaluated"), ("run_finished", "run_finished")):
        for label in RUNNERS:
            values = [r[(label, kind)] for r in rows if (label, kind) in r]
            if values:
                print(figures(f"click -> {label} {text} (run folder)", values))
    gaps = [r["chart"] - min(r[(label, "task_evaluated")] for label in RUNNERS) for r in rows
            if all((label, "task_evaluated") in r for label in RUNNERS)]
    if gaps:
        print(figures("first runner's task 1 evaluated -> chart drawn", gaps))


if __name__ == "__main__":
    main()
