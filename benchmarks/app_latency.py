"""The app's two latencies: how soon the first point of a run appears, and what a chart refresh costs.

    python benchmarks/app_latency.py [--repeats 3]

1. First point: time from labkit.app.background.start_background_run (what the Run button calls) to the
   first task_evaluated event in the run's events.jsonl, on digits with the app's defaults,
   split into process start -> run_started (data, model) -> first task_evaluated (training).
   The app warms the fork server when the page first loads (background.warm_up); the first row is a
   run started the moment the server is asked for (imports not done yet), the second runs
   started once it is warm, as after a page has been open a few seconds.
2. Refresh: time to rebuild a stored 10-task run's state from its files (run_status.run_state) and build
   all four live charts (panels.figures), and the plotly JSON encoding st.plotly_chart does on top.

Prints medians with the machine's CPU count. A benchmark, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from labkit import RunConfig, RunDir, run
from labkit.app import background
from labkit.app import panels
from labkit.views import run_status

POLL_S = 0.005


def wait_for(run_dir: RunDir, kind: str, since: float, timeout: float = 120.0) -> float:
    """Seconds from `since` until an event of `kind` is in the run's events.jsonl."""
    path = run_dir.path / "events.jsonl"
    while time.perf_counter() - since < timeout:
        if path.exists() and f'"type": "{kind}"' in path.read_text():
            return time.perf_counter() - since
        time.sleep(POLL_S)
    raise TimeoutError(f"no {kind} event after {timeout} s in {run_dir.path}")


def cold_start(config: RunConfig, runs_dir: Path) -> tuple[float, float]:
    """(s to run_started, s to first task_evaluated) after start_background_run is called."""
    started = time.perf_counter()
    run_dir = background.start_background_run(config, runs_dir)
    to_start = wait_for(run_dir, "run_started", started)
    to_first = wait_for(run_dir, "task_evaluated", started)
    wait_for(run_dir, "run_finished", started)
    return to_start, to_first


def refresh_costs(runs_dir: Path, repeats: int) -> tuple[float, float, float, int]:
    """Median ms of run_state, of figures, and of their plotly JSON, for a stored 10-task run."""
    config = RunConfig(dataset="digits", scenario="class-il", tasks=10, epochs=5, device="cpu")
    run_dir = RunDir.create(config.to_dict(), runs_dir)
    run(config, run_dir=run_dir)
    panels.figures(run_status.run_state(run_dir), "tag")  # warm-up: plotly's lazy imports
    state_ms, figures_ms, json_ms = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state = run_status.run_state(run_dir)
        t1 = time.perf_counter()
        figs = panels.figures(state, "tag")
        t2 = time.perf_counter()
        for fig in figs.values():
            fig.to_json()
        t3 = time.perf_counter()
        state_ms.append(1000 * (t1 - t0))
        figures_ms.append(1000 * (t2 - t1))
        json_ms.append(1000 * (t3 - t2))
    return (statistics.median(state_ms), statistics.median(figures_ms), statistics.median(json_ms),
            len(run_dir.events()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs started per measurement")
    parser.add_argument("--refreshes", type=int, default=50, help="chart refreshes timed")
    args = parser.parse_args()
    config = RunConfig()  # the app's defaults: digits, class-il, 5 tasks, finetune, mlp, 5 epochs
    print(f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}; medians; config "
          f"{json.dumps({k: v for k, v in config.to_dict().items() if k in ('dataset', 'tasks', 'method', 'epochs')})}")
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp)
        background.warm_up()
        first = cold_start(config, runs_dir)
        print(f"first point, run started as the fork server is asked for: run_started after "
              f"{first[0]:.2f} s, first task_evaluated after {first[1]:.2f} s")
        warm = [cold_start(config, runs_dir) for _ in range(args.repeats)]
        print(f"first point, warm fork server (as the app once open): run_started after "
              f"{statistics.median(w[0] for w in warm):.2f} s, first task_evaluated after "
              f"{statistics.median(w[1] for w in warm):.2f} s  (each: {', '.join(f'{w[1]:.2f}' for w in warm)})")
        state_ms, figures_ms, json_ms, events = refresh_costs(runs_dir, args.refreshes)
        print(f"refresh of a stored 10-task run ({events} events): run_state {state_ms:.1f} ms + "
              f"4 figures {figures_ms:.1f} ms = {state_ms + figures_ms:.1f} ms; "
              f"+ plotly JSON {json_ms:.1f} ms = {state_ms + figures_ms + json_ms:.1f} ms")


if __name__ == "__main__":
    main()
