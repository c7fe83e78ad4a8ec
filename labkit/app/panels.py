"""What the app draws and lists: the choices its widgets offer, a run's live charts, several
runs overlaid, their final metrics as a table (labkit.views.run_status says where each run stands),
and what the curvature chart shows, in words generated from its numbers."""
from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from labkit.curvature.tracking import curvature_series
from labkit.data.datasets import DATASETS, missing_files
from labkit.experiment.metrics import KIND_NAMES, natural_kind
from labkit.experiment.result import RunResult
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.views import plots
from labkit.views.run_status import ACTIVE, RunState


def available_datasets(data_root: str | Path = "data") -> dict[str, str | None]:
    """Every registered dataset -> None when its files are found (or it needs none), else why
    not. Looks for files only: nothing is loaded or downloaded."""
    return {name: missing_files(name, data_root) for name in DATASETS}


def method_choices() -> dict[str, dict[str, str | None]]:
    """method -> loss -> None when the method can train with that loss, else the reason it
    cannot (Method.loss_problem): the method x loss grid the app offers."""
    return {m: {loss: METHODS.get(m).loss_problem(loss) for loss in LOSSES} for m in METHODS}


def _percent_axes(fig: go.Figure, num_tasks: int | None = None) -> go.Figure:
    """0-100 % on y, and (given num_tasks) every task of the run on x from the first point on,
    so a growing curve shows how far the run still has to go."""
    fig.update_yaxes(range=[-2, 102])
    if num_tasks:
        fig.update_xaxes(range=[0.7, num_tasks + 0.3])
    return fig


def averages_figure(result: RunResult, kind: str) -> go.Figure:
    """Average accuracy A_t and average forgetting F_t (percent) against tasks learned."""
    fig = plots.metric_curves({"average accuracy": result}, "average_accuracy", kind)
    fig.add_traces(plots.metric_curves({"average forgetting": result}, "average_forgetting", kind).data)
    fig.update_layout(title=f"Average accuracy and forgetting ({KIND_NAMES[kind]})", yaxis_title="%")
    return fig


def forgetting_figure(state: RunState, kind: str) -> go.Figure:
    """Accuracy on each task as later tasks are learned, on x every task of the run (empty axes
    before the first task is evaluated)."""
    forgetting = plots.forgetting_curves(state.result, kind)
    forgetting.update_layout(title=f"Accuracy on each task as later tasks are learned<br>"
                                   f"<sup>{KIND_NAMES[kind]}</sup>")  # two lines: fits half a page
    return _percent_axes(forgetting, state.num_tasks)


LIVE_FIGURES = {  # the live charts of a run, in the order the page draws them
    "forgetting": forgetting_figure,
    "averages": lambda state, kind: _percent_axes(averages_figure(state.result, kind), state.num_tasks),
    "matrix": lambda state, kind: plots.accuracy_heatmap(state.result, kind),
    "loss": lambda state, kind: plots.training_loss(state.result),
}


def figures(state: RunState, kind: str) -> dict[str, go.Figure]:
    """The live charts of a run: forgetting curves, averages, accuracy matrix, training loss."""
    return {name: build(state, kind) for name, build in LIVE_FIGURES.items()}


def runner_colours(labels) -> dict[str, str]:
    """label -> its colour (plots.runner_colour) for a race's runners, labelled by method or loss."""
    return {label: plots.runner_colour(label) for label in labels}


def run_colours(named: dict[str, RunState]) -> dict[str, str]:
    """label -> colour for stored runs overlaid: their method's colour (plots.runner_colour) when
    no two of them share a method, else their loss's when no two share a loss; else none given
    (plotly's order)."""
    for field in ("method", "loss"):
        values = [str(s.config.get(field)) for s in named.values()]
        if len(set(values)) == len(values):
            return {label: plots.runner_colour(value) for label, value in zip(named, values)}
    return {}


def compare_figures(states: list[RunState] | dict[str, RunState], kind: str) -> dict[str, go.Figure]:
    """Average accuracy and average forgetting of several runs, overlaid, one colour each: labelled
    by run_label, or by the dict's keys (a race's runners, on x every task of the run), each
    runner in its own colour on every chart (runner_colours, run_colours)."""
    named = states if isinstance(states, dict) else {run_label(s): s for s in states}
    tasks = max((s.num_tasks for s in named.values()), default=None) if isinstance(states, dict) else None
    colours = runner_colours(named) if isinstance(states, dict) else run_colours(named)
    results = {label: s.result for label, s in named.items()}
    return {metric: _percent_axes(plots.metric_curves(results, metric, kind, colours), tasks)
            for metric in ("average_accuracy", "average_forgetting")}


def run_label(state: RunState) -> str:
    c = state.config
    ended = "" if state.status in ("finished", *ACTIVE) else f", {state.status}"  # a diverged curve says so
    return f"{c.get('method')} + {c.get('loss')}, {c.get('dataset')} {c.get('scenario')} [{state.run_id[-6:]}]{ended}"


def final_metrics(states: list[RunState], kind: str | None = None) -> pd.DataFrame:
    """One row per run: its settings and final metrics in percent. kind None: each run's
    natural kind (task-aware for task-IL, task-agnostic otherwise)."""
    rows = []
    for s in states:
        c, k = s.config, kind or natural_kind(s.config.get("scenario", ""))
        summary = s.result.summary(k)
        rows.append({  # what tells runs apart and their results first; the rest after
            "method": c.get("method"), "loss": c.get("loss"), "scenario": c.get("scenario"),
            "tasks done": f"{s.result.tasks_done}/{s.num_tasks}", "status": s.status,
            "final avg accuracy %": _pct(summary["final_average_accuracy"]),
            "final avg forgetting %": _pct(summary["final_average_forgetting"]),
            "backward transfer %": _pct(summary["backward_transfer"]),
            "accuracy kind": KIND_NAMES[k], "dataset": c.get("dataset"), "backbone": c.get("backbone"),
            "epochs": c.get("epochs"), "seed": c.get("seed"), "seconds": round(sum(s.result.task_seconds), 2),
            "run": s.run_id,
        })
    return pd.DataFrame(rows)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)


LITTLE = 0.5  # the task just learned "keeps little curvature" when its lambda_max is at most this share of all tasks'
DLCFT_CLAIMS = {  # likelihood -> (what DLCFT says of data the network has fitted, does LITTLE curvature agree)
    "categorical": ("under softmax CE a task the network has just fitted keeps little curvature (p_n near one-hot "
                    "makes H_n near 0), so a quadratic penalty built from it (EWC, K-FAC) holds that task loosely",
                    True),
    "gaussian": ("under MSE the curvature does not vanish as the network fits (H_n = I: F = J^T J whatever the fit)",
                 False),
}


def figure_text(value: float) -> str:
    """3 significant digits, without an exponent from 1,000 on: 4.2, 0.0874, 24,908."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def change_words(first: float, last: float) -> str:
    """'rose from 4.2 to 15.1 (×3.6)', 'fell from 623 to 358 (×0.57)' or 'stayed at 2'."""
    if last == first:
        return f"stayed at {figure_text(first)}"
    way = "rose" if last > first else "fell"
    times = f" (×{last / first:.2g})" if first > 0 else ""
    return f"{way} from {figure_text(first)} to {figure_text(last)}{times}"


def newest_shares(entries: list[dict]) -> list[float]:
    """After each task from the second on: lambda_max on the task just learned / lambda_max on all
    tasks seen (tasks where either is missing, or all tasks' is 0, are left out)."""
    series = curvature_series(entries, "max_eigenvalue")
    return [new / seen for new, seen in zip(series["newest"][1:], series["seen"][1:]) if new is not None and seen > 0]


def dlcft_verdict(entries: list[dict]) -> str:
    """Whether the task just learned keeps at most LITTLE of all tasks' largest eigenvalue (median
    over tasks 2..T), and whether that is what DLCFT says for this likelihood, in plain words."""
    if len(entries) < 2:
        return "From task 2 on, the task just learned is compared with all tasks seen."
    shares = newest_shares(entries)
    if not shares:
        return ("This run was stored before the task just learned was measured: DLCFT's claim, about the data the "
                "network has just fitted, cannot be read from it.")
    likelihood = entries[-1].get("likelihood", "categorical")
    claim, little_agrees = DLCFT_CLAIMS[likelihood]
    median = statistics.median(shares)
    little = median <= LITTLE
    after = "After task 2" if len(entries) == 2 else f"After tasks 2-{len(entries)}"
    spread = f"{shares[0]:.2g}" if len(shares) == 1 else f"{min(shares):.2g} to {max(shares):.2g}"
    compared = (f"{after} the task just learned had {spread} times the largest eigenvalue of all tasks seen, "
                f"forgotten ones included (median {median:.2g}: {'at most' if little else 'more than'} "
                f"{LITTLE:g} of it).")
    if little == little_agrees:
        return f"{compared} That is what DLCFT describes: {claim}."
    return f"{compared} DLCFT's claim does not show in these numbers; it says that {claim}."


def run_curvature_reading(label: str, result: RunResult) -> str:
    """One run's curvature chart in words: how each figure changed from task 1 to the last, on the
    task just learned and on all tasks seen, and how the two compare against DLCFT's claim."""
    entries = result.curvature
    likelihood = entries[-1].get("likelihood", "categorical")
    parts = []
    for figure, name in plots.CURVATURE.items():
        series = curvature_series(entries, figure)
        sets = [f"on {plots.CURVATURE_SETS[where][0]} {change_words(values[0], values[-1])}"
                for where, values in series.items() if None not in values]
        parts.append(f"the {name} " + ", ".join(sets))
    last = f"task {len(entries)}" if len(entries) > 1 else "task 1 (one task so far)"
    return (f"**{label or result.config.get('loss')}** ({likelihood} likelihood), from task 1 to {last}: "
            + "; ".join(parts) + ". " + dlcft_verdict(entries))


def curvature_reading(results: dict[str, RunResult]) -> str:
    """The curvature chart of these runs (label -> result; "" for a lone run) in words, one
    paragraph each, and, where their method trains with both ce and mse and not both likelihoods
    are shown, how to see them side by side."""
    tracked = {label: r for label, r in results.items() if r.curvature}
    paragraphs = [run_curvature_reading(label, r) for label, r in tracked.items()]
    likelihoods = {r.curvature[-1].get("likelihood") for r in tracked.values()}
    methods = {r.config.get("method") for r in tracked.values()}
    if len(likelihoods) < 2 and all(m in METHODS and METHODS.get(m).loss_problem(loss) is None
                                    for m in methods for loss in ("ce", "mse")):
        paragraphs.append("To see both likelihoods side by side, tick Track curvature and race `ce` against `mse` "
                          "in the Race tab (Race: losses): each loss trains with its own recipe's optimiser.")
    return "\n\n".join(paragraphs)

