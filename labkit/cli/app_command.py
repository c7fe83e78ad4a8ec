"""`labkit app`: serve the Streamlit app from wherever labkit is (a checkout or an installed
package), as `make app` does in a checkout: labkit/app/launcher.py, run by its path in a new
program, starts the fork server runs are forked from and then `streamlit run` on the app's page.
The command line never imports the app (its room); it replaces this process with the launcher."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from labkit.cli.option_values import whole_number
from labkit.registry import check_number

LAUNCHER = Path(__file__).resolve().parents[1] / "app" / "launcher.py"


def launcher_argv(args: argparse.Namespace) -> list[str]:
    """The launcher's command line: `make app`'s Streamlit options with this command's address and port."""
    return [sys.executable, str(LAUNCHER), "--server.address", args.address, "--server.port", str(args.port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]


def cmd_app(args: argparse.Namespace) -> None:
    check_number("port", args.port, integer=True, ge=1, le=65535)
    print(f"serving the app on http://{args.address}:{args.port} (Ctrl-C stops it); runs go to "
          f"{os.environ.get('LABKIT_RUNS_DIR', 'data/runs')} under {Path.cwd()}", flush=True)
    os.execv(sys.executable, launcher_argv(args))


def add_command(sub) -> None:
    p_app = sub.add_parser("app", help="serve the Streamlit app on http://127.0.0.1:8501 (what `make app` does)")
    p_app.add_argument("--port", type=whole_number, default=8501)
    p_app.add_argument("--address", default="127.0.0.1", help="the address to serve on (0.0.0.0: every interface)")
    p_app.set_defaults(func=cmd_app)
