"""The fork server background runs are forked from (labkit.cli.worker): started as a process of
its own by the app's launcher (labkit.app.launcher, before Streamlit) or, under a plain
`streamlit run app.py`, by the first page (labkit.app.background). Nothing here imports more than
the standard library, and `import labkit` imports nothing itself, so the launcher can start it
before this process pays for torch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def start_fork_server() -> subprocess.Popen:
    """python -m labkit.cli.worker (this checkout's labkit) in a session of its own, its stdin
    and stdout piped to this process in text mode: requests go in, pids come back (labkit.cli.worker)."""
    path = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, "-m", "labkit.cli.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": path},
                            start_new_session=True)
