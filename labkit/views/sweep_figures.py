"""A sweep's effect sizes as figures (the app's Compare tab, notebooks): each group's mean with
its seed spread, and each group's paired-by-seed difference against the baseline with its 95%
interval, in percentage points."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from labkit.analysis.effects import SHORT
from labkit.experiment.metrics import KIND_ABBREVIATIONS

LONG = {"total_average_accuracy": "total average accuracy", "total_average_forgetting": "total average forgetting",
        "final_average_accuracy": "final average accuracy", "final_average_forgetting": "final average forgetting"}


def metric_title(metric: str) -> str:
    kind, field = metric.split("_", 1)
    return f"{KIND_ABBREVIATIONS[kind]} {LONG[field]}"


def group_bars(rows: list[dict], metric: str) -> go.Figure:
    """Mean ± sample sd (labkit.analysis.spread) over the seeds that finished, one bar per group (percent)."""
    kept = [r for r in rows if not math.isnan(r["mean"][metric][0])]
    fig = go.Figure(go.Bar(x=[r["group"] for r in kept], y=[100 * r["mean"][metric][0] for r in kept],
                           error_y=dict(type="data", array=[100 * r["mean"][metric][1] for r in kept]),
                           hovertext=[f"runs: {r['runs']}" for r in kept]))
    fig.update_layout(title=f"{metric_title(metric)}: mean ± std over seeds", yaxis_title="%", height=360,
                      margin=dict(t=50, b=40))
    return fig


def paired_bars(rows: list[dict], metric: str) -> go.Figure:
    """Each group minus the baseline, paired by seed, with its 95% interval (points); a bar whose
    interval crosses zero is drawn grey: not separated."""
    compared = [r for r in rows if r["vs"].get(metric) is not None and r["vs"][metric].n >= 2]
    diffs = [r["vs"][metric] for r in compared]
    fig = go.Figure(go.Bar(
        x=[r["group"] for r in compared], y=[100 * d.mean for d in diffs],
        error_y=dict(type="data", symmetric=False, array=[100 * (d.high - d.mean) for d in diffs],
                     arrayminus=[100 * (d.mean - d.low) for d in diffs]),
        marker_color=["#1f77b4" if d.separated else "#b0b0b0" for d in diffs],
        hovertext=[d.text() for d in diffs]))
    base = next((r["group"] for r in rows if r.get("is_baseline")), "the baseline")
    fig.add_hline(y=0, line_color="black", line_width=1)
    fig.update_layout(title=f"minus {base}, paired by seed, 95% interval ({SHORT[metric.split('_', 1)[1]]}; "
                            "grey: not separated)", yaxis_title="points", height=360, margin=dict(t=50, b=40))
    return fig
