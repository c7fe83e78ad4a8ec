"""The app in a real browser: Debian's chromium driven by playwright opens the app as `make app`
starts it (labkit/app/launcher.py: the fork server, then `streamlit run app.py`) in a 1280x800
window, picks a method, presses Run, waits for the forgetting chart to show two tasks, checks
that it is on screen without scrolling and that the page has one Stop button, and saves
screenshots to test-artifacts/app.png (the window) and app-full.png (the whole page); and races
three methods in the Race tab to their end, screenshot test-artifacts/app-race.png (look at them)."""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from browser import CHROMIUM, FLAGS, free_port, needs_chromium, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def app_url(tmp_path):
    """The app as `make app` starts it, on a free localhost port, storing runs under tmp_path."""
    port = free_port()
    env = {**os.environ, "LABKIT_RUNS_DIR": str(tmp_path / "runs")}
    server = subprocess.Popen(
        [sys.executable, "labkit/app/launcher.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--client.toolbarMode", "viewer"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                return reply.status == 200

        wait_until_up(healthy, server, 60, "streamlit", lambda: server.stdout.read().decode(errors="replace"))
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)


@contextlib.contextmanager
def app_page(app_url: str, tmp_path: Path, height: int, width: int = 1600):
    """A fresh chromium profile on the app, once its sidebar is drawn: (page, sidebar)."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=FLAGS,
            viewport={"width": width, "height": height})
        try:
            page = browser.new_page()
            page.goto(app_url)
            sidebar = page.get_by_test_id("stSidebar")
            expect(sidebar.get_by_text("Experiment")).to_be_visible(timeout=60_000)
            yield page, sidebar
        finally:
            browser.close()


def test_pick_a_method_run_and_watch_the_forgetting_curves(app_url, tmp_path):
    from playwright.sync_api import expect

    with app_page(app_url, tmp_path, 800, 1280) as (page, sidebar):
        # the method: open its selectbox, type to filter the long list (it shows only the
        # first options without scrolling), and pick LwF (each option is "name — title")
        sidebar.get_by_test_id("stSelectbox").filter(has_text="Method").click()
        page.keyboard.type("lwf")
        page.get_by_role("option", name=re.compile(r"^lwf — ")).click()
        expect(sidebar.get_by_text("lwf hyper-parameters")).to_be_visible(timeout=20_000)
        for label, value in (("Number of tasks", "3"), ("Epochs per task", "2")):
            box = sidebar.get_by_role("spinbutton", name=label)
            box.fill(value)
            box.press("Enter")
        expect(page.get_by_text("python -m labkit run --tasks 3")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Run", exact=True).click()
        # the forgetting chart's legend lists one entry per task learned
        chart = page.get_by_test_id("stPlotlyChart").first
        expect(chart.get_by_text("task 2", exact=True).first).to_be_visible(timeout=60_000)
        # one Stop, the page's (Streamlit's own, which would stop the page and not the run, is hidden)
        stops = page.get_by_role("button", name="Stop", exact=True)
        expect(stops).to_have_count(1)
        expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()
        expect(page.get_by_text("finished: 3 tasks learned")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)  # let the last redraw settle
        # the first chart, the forgetting curves, is on screen at 1280x800 without scrolling
        box = chart.bounding_box()  # in the window, as it is shown
        assert "Accuracy on each task" in chart.inner_text() and box["y"] > 0 and box["y"] + box["height"] <= 800, box
        page.screenshot(path=str(ARTIFACTS / "app.png"))  # what a 1280x800 window shows
        page.set_viewport_size({"width": 1600, "height": 2100})  # and the whole page
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "app-full.png"), full_page=True)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "result.json").is_file()


def test_race_three_methods_and_see_who_leads(app_url, tmp_path):
    """The default race (finetune, lwf, lwf-bsr on digits, task-IL) in the Race tab, with curvature
    tracked, to its end; screenshot test-artifacts/app-race.png (look at it)."""
    from playwright.sync_api import expect

    with app_page(app_url, tmp_path, 3400) as (page, sidebar):
        sidebar.get_by_text("Track curvature").click()
        page.get_by_role("tab", name="Race").click()
        expect(page.get_by_text("--grid method=finetune,lwf,lwf-bsr")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Run race").click()
        expect(page.get_by_text("Average accuracy at the end")).to_be_visible(timeout=120_000)
        for runner in ("finetune", "lwf", "lwf-bsr"):
            expect(page.get_by_text(f"{runner}: finished: 5 tasks learned")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Head offsets of each runner")).to_be_visible()
        page.wait_for_timeout(1500)  # let the last redraw settle
        page.screenshot(path=str(ARTIFACTS / "app-race.png"), full_page=True)
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 3 and all((r / "result.json").is_file() for r in runs)
