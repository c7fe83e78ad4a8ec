"""labkit as an installed package, away from the checkout: the wheel `pip install .` would build
holds the package and its app (and nothing generated, no tests, no notebooks); installed into a
fresh virtual environment that reuses the shared environment's packages (a .pth file, so nothing
is downloaded), its `labkit` command lists, runs a 1-epoch run and serves the app from a folder
that is not the checkout."""
from __future__ import annotations

import os
import site
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest
from browser import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(the fresh venv's bin folder, an environment without the checkout on PYTHONPATH)."""
    where = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-w", str(where / "dist"), "-q"], check=True, cwd=where)
    (wheel,) = (where / "dist").glob("labkit-*.whl")
    venv.create(where / "venv", with_pip=False)
    (packages,) = (where / "venv" / "lib").glob("python*/site-packages")
    (packages / "shared-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(where / "venv" / "bin" / "python"), "install",
                    "--no-deps", "-q", str(wheel)], check=True, cwd=where, env=env)
    return where, env


def test_the_wheel_holds_the_package_and_its_app_and_nothing_generated(installed):
    where, _ = installed
    (wheel,) = (where / "dist").glob("labkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"labkit/__main__.py", "labkit/app/page.py", "labkit/app/launcher.py",
            "labkit/teaching/exercises/__init__.py"} <= set(names)
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "data/", "build/")) or "__pycache__" in n
                or n.endswith((".pt", ".ipynb", ".jsonl"))]


def test_the_console_command_lists_and_runs_outside_the_checkout(installed, tmp_path):
    where, env = installed
    labkit = str(where / "venv" / "bin" / "labkit")
    origin = subprocess.run([str(where / "venv" / "bin" / "python"), "-c", "import labkit; print(labkit.__file__)"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert origin.startswith(str(where / "venv")), origin  # the installed copy, not the checkout
    listing = subprocess.run([labkit, "list"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert "methods:" in listing.stdout and "lwf" in listing.stdout
    done = subprocess.run([labkit, "--runs-dir", "runs", "run", "--dataset", "digits", "--tasks", "2", "--epochs",
                           "1", "--device", "cpu", "--knn-k", "0"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()] and "average" in done.stdout


def test_the_installed_app_command_serves_the_page(installed, tmp_path):
    where, env = installed
    port = free_port()
    server = subprocess.Popen([str(where / "venv" / "bin" / "labkit"), "app", "--port", str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    assert reply.read() == b"ok"
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the app did not come up"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert b"<div id=\"root\">" in page.read()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_bad_port_is_refused_before_anything_starts(installed, tmp_path):
    where, env = installed
    refused = subprocess.run([str(where / "venv" / "bin" / "labkit"), "app", "--port", "70000"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.startswith("error: port=70000 is not valid")
