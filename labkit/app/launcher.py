"""The app's two servers: the fork server background runs are forked from, and the launcher that
starts it together with Streamlit's (what `make app` runs).

    python labkit/app/launcher.py [streamlit run options]     # or: python -m labkit.app.launcher ...
    labkit app [--port N]                                     # the same, where labkit is installed

The launcher starts the fork server (python -m labkit.cli.worker, which imports torch,
scikit-learn and labkit, seconds of CPU) first, then runs Streamlit's own command line,
`streamlit run labkit/app/page.py [options]` (the page app.py runs), in this same process. The page's
background.warm_up() finds that fork
server already started (same process, same module) and, since it has been importing while
Streamlit started and the first page loaded, the first Run of the first page starts its run as
fast as any later Run. Run by its path, the launcher starts the fork server before this process
imports labkit (torch first), so both import at once on two cores; `-m labkit.app.launcher`
has Python import the labkit package first. Plain `streamlit run app.py` still works: its fork
server starts when the first page loads.

Nothing here imports more than the standard library before the fork server is started.
"""
from __future__ import annotations

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]  # the checkout, or site-packages where labkit is installed
PAGE = Path(__file__).resolve().with_name("page.py")  # the app's page (app.py runs it in a checkout)

if __name__ == "__main__" and not __package__:  # run by path: Python put labkit/app/ first on sys.path
    sys.path[0] = str(CHECKOUT)

from labkit.app.fork_server import start_fork_server  # noqa: E402 - the standard library only


def warm_charts() -> None:
    """Build and encode one small plotly figure, so plotly's lazy imports and the template load are
    paid now and not when the first run's charts are drawn."""
    import plotly.graph_objects as go

    go.Figure([go.Scatter(x=[1], y=[1]), go.Heatmap(z=[[1]])], layout={"template": "plotly_white"}).to_json()


def main(options: list[str]) -> None:
    server = start_fork_server()  # first: it imports on one core while this process imports on the other
    from labkit.app import background

    background.warm_up(server)
    warm_charts()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(PAGE), *options]
    cli.main(prog_name="streamlit")  # returns only by sys.exit, when Streamlit stops


if __name__ == "__main__":
    main(sys.argv[1:])
