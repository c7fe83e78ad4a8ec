"""Plotly figure builders shared by the notebooks and the app. Tasks are numbered from 1 on
every axis; accuracies are shown in percent."""
from __future__ import annotations

import math
import zlib

import numpy as np
import plotly
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labkit.curvature.tracking import curvature_series
from labkit.experiment.metrics import KIND_NAMES
from labkit.experiment.result import RunResult
from labkit.errors import ConfigError

METRICS = {"average_accuracy": "average accuracy", "average_forgetting": "average forgetting"}
# 30 different colours, strong enough on a white background: one per method (27) or loss
RUNNER_PALETTE = tuple(dict.fromkeys(plotly.colors.qualitative.D3 + plotly.colors.qualitative.Plotly
                                     + plotly.colors.qualitative.Dark2[:3] + plotly.colors.qualitative.Set1[:7]))


# the runners most often compared first (the default race: finetune, lwf, lwf-bsr), so they get the
# palette's first, most distinct colours; every other method or loss after them, sorted by name
FIRST_RUNNERS = ("finetune", "lwf", "lwf-bsr", "ewc", "joint", "lwm", "lucir", "er", "der", "derpp", "mas", "dlcft",
                 "ce", "mse")


def runner_colour(label: str) -> str:
    """The colour of a runner labelled by a method or a loss, the same in every chart, race and
    page: the name's place in a fixed order of all registered methods (or losses): FIRST_RUNNERS,
    then the others sorted, in RUNNER_PALETTE (so no two methods, and no two losses, share one);
    any other label by a hash of its text."""
    from labkit.losses import LOSSES
    from labkit.methods import METHODS

    for registry in (METHODS, LOSSES):
        if label in registry:
            order = [n for n in FIRST_RUNNERS if n in registry] + sorted(set(registry.names()) - set(FIRST_RUNNERS))
            return RUNNER_PALETTE[order.index(label) % len(RUNNER_PALETTE)]
    return RUNNER_PALETTE[zlib.crc32(label.encode()) % len(RUNNER_PALETTE)]


def recolour(fig: go.Figure, colours: dict[str, str]) -> go.Figure:
    """Give each trace named by a key of `colours` (or by "key: ...") that colour, line and markers."""
    for trace in fig.data:
        name = trace.name or ""
        colour = colours.get(name) or colours.get(name.split(": ")[0])
        if colour is not None:
            trace.update(line={"color": colour}, marker={"color": colour})
    return fig


def _check_kind(kind: str) -> str:
    if kind not in KIND_NAMES:
        raise ConfigError("kind", kind, "choose 'taw' (task-aware) or 'tag' (task-agnostic)")
    return KIND_NAMES[kind]


def _percent(values) -> list[float | None]:
    """Fractions -> percent, with None (a gap in the line) in place of NaN or None."""
    return [None if v is None or math.isnan(v) else 100.0 * v for v in values]


def forgetting_curves(result: RunResult, kind: str = "taw") -> go.Figure:
    """One line per task u: acc[t, u] in percent against the number of tasks learned t+1, for
    t >= u, i.e. how task u is forgotten as later tasks are learned."""
    label = _check_kind(kind)
    acc = result.matrix(kind)
    fig = go.Figure()
    for u in range(len(acc)):
        learned = list(range(u + 1, len(acc) + 1))
        fig.add_trace(go.Scatter(x=learned, y=_percent(acc[u:, u]), mode="lines+markers", name=f"task {u + 1}"))
    fig.update_layout(
        title=f"Accuracy on each task as later tasks are learned ({label})",
        xaxis_title="tasks learned",
        yaxis_title="accuracy (%)",
    )
    fig.update_xaxes(dtick=1)
    return fig


def accuracy_heatmap(result: RunResult, kind: str = "taw") -> go.Figure:
    """The accuracy matrix acc[t, u] in percent, row "after task t", column "task u", values
    written in the cells with one decimal; cells above the diagonal are blank."""
    label = _check_kind(kind)
    z = 100.0 * result.matrix(kind)
    text = [["" if np.isnan(v) else f"{v:.1f}" for v in row] for row in z]
    n = len(z)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"task {u + 1}" for u in range(n)],
            y=[f"after task {t + 1}" for t in range(n)],
            text=text,
            texttemplate="%{text}",
            zmin=0,
            zmax=100,
            colorscale="Viridis",
            colorbar_title="%",
            hoverongaps=False,
        )
    )
    fig.update_layout(title=f"Accuracy matrix ({label}, %)")
    fig.update_yaxes(autorange="reversed")
    return fig


def metric_curves(
    results: dict[str, RunResult], metric: str = "average_accuracy", kind: str = "taw",
    colours: dict[str, str] | None = None,
) -> go.Figure:
    """One line per named run: the metric after each task (percent) against tasks learned.
    ``metric`` is "average_accuracy" (A_t) or "average_forgetting" (F_t, undefined at t = 1).
    ``colours``: name -> colour for the runs it names (runner_colour), plotly's order for the rest."""
    label = _check_kind(kind)
    if metric not in METRICS:
        raise ConfigError("metric", metric, f"choose one of {', '.join(METRICS)}")
    fig = go.Figure()
    for name, result in results.items():
        values = result.summary(kind)[metric]
        fig.add_trace(
            go.Scatter(x=list(range(1, len(values) + 1)), y=_percent(values), mode="lines+markers", name=name)
        )
    fig.update_layout(
        title=f"{METRICS[metric].capitalize()} ({label})",
        xaxis_title="tasks learned",
        yaxis_title=f"{METRICS[metric]} (%)",
    )
    fig.update_xaxes(dtick=1)
    return recolour(fig, colours or {})


def training_loss(result: RunResult) -> go.Figure:
    """Mean training loss of every epoch of the run, numbered 1.. across tasks; one trace per
    task, with a dashed line at each task boundary (drawn as layout shapes in one update:
    a vline per boundary costs milliseconds each, and the app redraws this live)."""
    fig = go.Figure()
    start, boundaries = 0, []
    for t, losses in enumerate(result.epoch_losses):
        if t > 0:
            boundaries.append(start + 0.5)
        epochs = list(range(start + 1, start + len(losses) + 1))
        fig.add_trace(go.Scatter(x=epochs, y=list(losses), mode="lines+markers", name=f"task {t + 1}"))
        start += len(losses)
    fig.update_layout(
        title="Training loss per epoch", xaxis_title="epoch (whole run)", yaxis_title="loss",
        shapes=[dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="paper",
                     line=dict(dash="dash", color="gray")) for x in boundaries])
    return fig


HEAD_STATS = {"weight_norm": "mean weight-row norm", "bias_mean": "mean bias", "logit_mean": "mean logit"}


def head_imbalance(result: RunResult, stat: str = "weight_norm") -> go.Figure:
    """One line per head k: the statistic of head k (result.head_stats) after each task learned,
    from the task that added it on; heads drifting apart is the imbalance softmax allows."""
    if stat not in HEAD_STATS:
        raise ConfigError("stat", stat, f"choose one of {', '.join(HEAD_STATS)}")
    fig = go.Figure()
    heads = len(result.head_stats[-1][stat]) if result.head_stats else 0
    for k in range(heads):
        points = [(t + 1, s[stat][k]) for t, s in enumerate(result.head_stats) if k < len(s[stat])]
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points],
                                 mode="lines+markers", name=f"head {k + 1}"))
    fig.update_layout(title=f"Head imbalance: {HEAD_STATS[stat]} of each head", xaxis_title="tasks learned",
                      yaxis_title=HEAD_STATS[stat])
    fig.update_xaxes(dtick=1)
    return fig


CURVATURE = {"max_eigenvalue": "largest Fisher eigenvalue", "diagonal_total": "diagonal Fisher total"}
CURVATURE_SETS = {"newest": ("the task just learned", "solid"), "seen": ("all tasks seen so far", "dot")}


def curvature_figure(runs: RunResult | dict[str, RunResult], colours: dict[str, str] | None = None) -> go.Figure:
    """The Fisher curvature left after each task learned (result.curvature, runs with
    RunConfig.track_curvature), side by side on log axes: lambda_max(F) and sum_i F_ii (EWC's
    diagonal), on the training images of the task just learned (solid; runs stored before it
    was measured have none) and of all tasks seen so far (dotted; labkit.curvature.tracking). A
    value <= 0 cannot be drawn on a log axis and is left as a gap. Several named runs (a race):
    one colour each, the same in both panels (``colours``: name -> colour, else plotly's order)."""
    named = {"": runs} if isinstance(runs, RunResult) else runs
    fig = make_subplots(rows=1, cols=2, subplot_titles=tuple(CURVATURE.values()))
    palette = plotly.colors.qualitative.Plotly
    for i, (name, result) in enumerate(named.items()):
        learned = list(range(1, len(result.curvature) + 1))
        for col, key in enumerate(CURVATURE, start=1):
            for where, values in curvature_series(result.curvature, key).items():
                label, dash = CURVATURE_SETS[where]
                fig.add_trace(go.Scatter(x=learned, y=[v if v is not None and v > 0 else None for v in values],
                                         mode="lines+markers", name=f"{name}: {label}" if name else label,
                                         line={"color": (colours or {}).get(name, palette[i % len(palette)]),
                                               "dash": dash},
                                         legendgroup=f"{name}:{where}", showlegend=col == 1), row=1, col=col)
    for col, label in enumerate(CURVATURE.values(), start=1):
        fig.update_yaxes(type="log", title_text=label, row=1, col=col)
        fig.update_xaxes(title_text="tasks learned", dtick=1, row=1, col=col)
    likelihoods = sorted({r.curvature[-1].get("likelihood") for r in named.values() if r.curvature} - {None})
    fig.update_layout(title="Curvature left after each task, on the task just learned and on all tasks seen"
                            + (f" ({', '.join(likelihoods)} likelihood)" if likelihoods else ""))
    return fig


def widget_output(fig: go.Figure) -> dict:
    """`fig` as one notebook output, for an ipywidgets Output whose `outputs` a callback replaces
    whole (`out.outputs = (widget_output(fig),)`): the figure is redrawn in place in JupyterLab,
    and nothing is captured. (Capturing with `with out:` stalls notebook execution outside a
    browser: nbclient answers each captured output with a message to the kernel, which in a few
    cells in a hundred leaves the cell's reply unread until its timeout;
    benchmarks/widget_cell_stalls.py measures it.)"""
    return {"output_type": "display_data", "data": fig._repr_mimebundle_(), "metadata": {}}
