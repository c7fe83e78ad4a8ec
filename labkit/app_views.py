"""What the app draws and lists: the choices its widgets offer, a run's live charts, several
runs overlaid, and their final metrics as a table (labkit.run_status says where each run stands)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from labkit import plots
from labkit.data.datasets import DATASETS, missing_files
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.result import RunResult
from labkit.run_status import ACTIVE, RunState
from labkit.runner import natural_kind


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
    fig.update_layout(title=f"Average accuracy and forgetting ({plots.KINDS[kind]})", yaxis_title="%")
    return fig


def figures(state: RunState, kind: str) -> dict[str, go.Figure]:
    """The live charts of a run: forgetting curves, averages, accuracy matrix, training loss."""
    result = state.result
    forgetting = plots.forgetting_curves(result, kind)
    forgetting.update_layout(title=f"Accuracy on each task as later tasks are learned<br>"
                                   f"<sup>{plots.KINDS[kind]}</sup>")  # two lines: fits half a page
    return {"forgetting": _percent_axes(forgetting, state.num_tasks),
            "averages": _percent_axes(averages_figure(result, kind), state.num_tasks),
            "matrix": plots.accuracy_heatmap(result, kind), "loss": plots.training_loss(result)}


def compare_figures(states: list[RunState] | dict[str, RunState], kind: str) -> dict[str, go.Figure]:
    """Average accuracy and average forgetting of several runs, overlaid, one colour each: labelled
    by run_label, or by the dict's keys (a race's runners, on x every task of the run)."""
    named = states if isinstance(states, dict) else {run_label(s): s for s in states}
    tasks = max((s.num_tasks for s in named.values()), default=None) if isinstance(states, dict) else None
    results = {label: s.result for label, s in named.items()}
    return {metric: _percent_axes(plots.metric_curves(results, metric, kind), tasks)
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
            "accuracy kind": plots.KINDS[k], "dataset": c.get("dataset"), "backbone": c.get("backbone"),
            "epochs": c.get("epochs"), "seed": c.get("seed"), "seconds": round(sum(s.result.task_seconds), 2),
            "run": s.run_id,
        })
    return pd.DataFrame(rows)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)
