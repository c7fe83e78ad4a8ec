"""What the real-browser tests share: Debian's chromium for playwright, its flags, the skip when
it is absent, and a free loopback port for the server under test."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(is_up: Callable[[], bool], server: subprocess.Popen, timeout_s: float, what: str,
                  output: Callable[[], str]) -> None:
    """Poll `is_up()` (an OSError counts as not yet) until it holds; fail with the server's output
    if the server exits or `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if is_up():
                return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not come up:\n{output()}")
        time.sleep(0.2)
