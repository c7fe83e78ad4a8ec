"""`make book`'s site in a real browser, offline: tools/book.py builds it into tmp_path with one notebook
executed in quick mode (00_quickstart, the cheapest with plotly figures and ipywidgets) and the others
converted as committed; Debian's chromium, driven by playwright, opens it from file:// with every other
request recorded and refused. The index must link every notebook in notebooks/ to a page that opens; the
executed notebook's page must draw its plotly figures with the bundled plotly.js (and typeset its math when
the site has a MathJax copy), show the widgets' saved state, and log no console error.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from browser import CHROMIUM, FLAGS, needs_chromium

ROOT = Path(__file__).resolve().parents[2]
EXECUTED = "00_quickstart"
BUILD_S = 900  # the quick run of one notebook and the conversion of all, on a slow shared 2-core machine
STEP_MS = 60_000
LOCAL = ("file:", "data:", "blob:", "about:")

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    started = time.perf_counter()
    built = subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "--out", str(out), "--quick",
                            "--execute", EXECUTED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_S)
    print(f"tools/book.py --quick --execute {EXECUTED}: {time.perf_counter() - started:.0f} s wall, "
          f"load average {os.getloadavg()[0]:.2f}\n{built.stdout}")
    assert built.returncode == 0, f"tools/book.py failed:\n{built.stdout}\n{built.stderr}"
    return out


@pytest.fixture
def browser_page(tmp_path):
    """A chromium page that may load only local files: (page, the other URLs it asked for, console errors)."""
    from playwright.sync_api import sync_playwright

    external: list[str] = []
    errors: list[str] = []
    home = tmp_path / "home"
    home.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, env={**os.environ, "HOME": str(home)})
        context = browser.new_context(viewport={"width": 1300, "height": 1000})

        def refuse_remote(route):
            if route.request.url.startswith(LOCAL):
                route.continue_()
            else:
                external.append(route.request.url)
                route.abort()

        context.route("**/*", refuse_remote)
        page = context.new_page()
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        try:
            yield page, external, errors
        finally:
            browser.close()


def test_the_index_links_every_notebook_to_a_page_that_opens(book, browser_page):
    page, external, errors = browser_page
    page.goto((book / "index.html").as_uri())
    heading = next(line for line in (ROOT / "docs" / "LEARNING_PATH.md").read_text().splitlines() if line.startswith("# "))
    assert page.locator("h1").first.inner_text().strip() == heading[2:].strip(), "the index is not the learning path"
    assert "{{" not in page.locator("body").inner_text(), "a time placeholder of LEARNING_PATH.md is left unfilled"
    executed_row = page.locator("tr", has=page.locator(f"a[href='{EXECUTED}.html']")).last
    assert "quick" in executed_row.inner_text(), executed_row.inner_text()
    links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    pages = {link.split("#")[0] for link in links if link.startswith("file:") and ".html" in link}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (book / f"{notebook.stem}.html").as_uri() in pages, f"the index does not link {notebook.name}"
    for url in sorted(pages):
        assert Path(url.removeprefix("file://")).is_file(), f"the index links {url}, which is not there"
        page.goto(url)
        if url.endswith("index.html"):
            continue
        assert page.locator(".jp-Notebook .jp-Cell").count() > 0, f"{url} shows no notebook cells"
        back = page.locator("nav a[href='index.html']")
        assert back.count() == 1, f"{url} has no link back to the index"
    assert not external, f"requests beyond the site: {external}"
    assert not errors, f"console errors: {errors}"


def test_the_executed_notebook_draws_its_figures_offline(book, browser_page):
    page, external, errors = browser_page
    page.goto((book / f"{EXECUTED}.html").as_uri())
    figures = page.locator(".plotly-graph-div")
    assert figures.count() > 0, "no plotly figure on the executed notebook's page"
    page.wait_for_function("""() => [...document.querySelectorAll('.plotly-graph-div')].every(gd => {
        const svg = gd.querySelector('svg.main-svg');
        return svg && svg.getBoundingClientRect().width > 0 && gd.querySelector('.main-svg .trace, .main-svg .hm');
    })""", timeout=STEP_MS)  # .trace: a line or bar trace drawn; .hm: a heatmap's image
    # the explorer's widgets: their saved values as text, and the figures their Output widgets held
    widget_cell = page.locator(".jp-CodeCell", has=page.locator(".book-widget", has_text="method:"))
    assert widget_cell.count() == 1, "the explorer's saved state is not shown"
    assert widget_cell.locator(".plotly-graph-div svg.main-svg").count() >= 2
    if (book / "mathjax").is_dir():  # Debian's libjs-mathjax was there to copy
        page.wait_for_function("() => document.querySelectorAll('.MathJax_CHTML, mjx-container').length > 0",
                               timeout=STEP_MS)
    else:  # the TeX source is left readable
        assert "$" in "".join(page.locator(".jp-MarkdownCell").all_inner_texts())
    page.wait_for_timeout(1000)  # late errors (fonts, lazy scripts) have their chance
    assert not external, f"requests beyond the site: {external}"
    assert not errors, f"console errors: {errors}"
