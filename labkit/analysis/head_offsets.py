"""Head offsets ("Rethinking softmax", Zhai et al. 2026; docs/PAPERS.md, section 1): what a run's
per-head statistics and accuracy matrices say about the offsets softmax leaves free.

Softmax is shift invariant, softmax(z_k + c 1) = softmax(z_k), so the loss of task k, taken
within head k, never fixes head k's offset against the other heads. The task-agnostic (TAg)
prediction argmax_c [z_1, ..., z_n]_c compares the heads, so whichever head drifts higher takes
the other tasks' samples; the task-aware (TAw) prediction argmax_c z_u,c of task u's own head
does not see the offsets at all. After each task t the runner records, per head k
(labkit.experiment.runner.head_statistics):

    logit_mean[k]  = mean over the test samples x of the tasks seen and over head k's classes c
                     of z_k,c(x)   (the head's offset, summarised)
    weight_norm[k] = mean over head k's classes c of ||W_k,c||_2

and acc_tag[t][u], acc_taw[t][u]. The newest-vs-old comparison after task t (1-based, t >= 2):

    newest = acc[t][t],   old = 1/(t-1) sum_{u<t} acc[t][u]

A head's mean logit summarises its offset; the TAg argmax itself is decided by each head's largest
logit (labkit.analysis.model_probes.head_scores counts the wins), so the reading (offset_reading) says what
each chart shows, in plain words from its numbers, and never that one caused the other.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labkit.experiment.metrics import KIND_NAMES
from labkit.experiment.result import RunResult
from labkit.errors import ConfigError

SHIFT_INVARIANCE = (
    "- **Shift invariance.** Adding the same number to all of a head's logits leaves its softmax unchanged, "
    "`softmax(z + c) = softmax(z)`, so training a task within its own head never fixes "
    "that head's offset against the other heads.\n"
    "- Task-agnostic prediction takes the argmax over *all* heads' logits, so the head whose offset drifted "
    "highest wins it, whatever its task: task-aware accuracy (within each task's own head) does not see this."
)

HEAD_COLOURS = plotly.colors.qualitative.Plotly
ONE_HEAD_NOTE = "one head: no offsets to compare"
NO_TASK_NOTE = "no task learned yet"


def _checked(result: object) -> RunResult:
    if not isinstance(result, RunResult):
        raise ConfigError("result", result, "a labkit RunResult (labkit.run(...) or RunResult.from_dict)")
    return result


def head_colour(k: int) -> str:
    """The colour of head k (0-based) in every panel of these figures."""
    return HEAD_COLOURS[k % len(HEAD_COLOURS)]


def head_series(result: RunResult) -> dict[int, dict[str, list]]:
    """For each head k (0-based, as indexed in result.head_stats[t][stat][k]):
    {"tasks": [t + 1 for every task t after which head k existed], "logit_mean": [...],
    "weight_norm": [...]}, the head's statistics after each of those tasks. In task-IL and
    class-IL head k exists from task k + 1 on; data-IL has one head, present after every task.
    0 tasks done: {}. 1 task done: {0: one point each}."""
    series: dict[int, dict[str, list]] = {}
    for t, stats in enumerate(_checked(result).head_stats):
        for k, (logit, norm) in enumerate(zip(stats["logit_mean"], stats["weight_norm"])):
            head = series.setdefault(k, {"tasks": [], "logit_mean": [], "weight_norm": []})
            head["tasks"].append(t + 1)
            head["logit_mean"].append(logit)
            head["weight_norm"].append(norm)
    return series


def newest_vs_old(result: RunResult) -> dict[str, list]:
    """After each task t = 2..T (1-based): {"tasks": [t], "tag_newest": acc_tag[t][t],
    "tag_old": mean_{u<t} acc_tag[t][u], "taw_newest", "taw_old": the same task-aware}, as
    fractions. With 0 or 1 tasks done there are no old tasks yet: every list is empty. Data-IL
    (one shared head) is computed the same way: its tasks are new data for the same classes."""
    result = _checked(result)
    out: dict[str, list] = {"tasks": [], "tag_newest": [], "tag_old": [], "taw_newest": [], "taw_old": []}
    for t in range(1, min(len(result.acc_tag), len(result.acc_taw))):
        out["tasks"].append(t + 1)
        for kind, rows in (("tag", result.acc_tag), ("taw", result.acc_taw)):
            out[f"{kind}_newest"].append(rows[t][t])
            out[f"{kind}_old"].append(float(np.mean(rows[t][:t])))
    return out


def _note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0.5, y=1.1, yanchor="bottom",
                       showarrow=False, font=dict(color="gray"))


def head_offsets_figure(result: RunResult) -> go.Figure:
    """Two panels side by side: each head's mean logit (left) and mean weight-row norm (right)
    after every task it existed at, x = tasks learned, one colour per head in both panels (one
    legend entry per head). 0 tasks: empty panels with the note "no task learned yet"; one head
    (data-IL, or a multi-head run after its first task): that head's points and the note "one
    head: no offsets to compare"."""
    series = head_series(result)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("mean logit", "mean weight-row norm"))
    for k, head in series.items():
        for col, stat in ((1, "logit_mean"), (2, "weight_norm")):
            fig.add_trace(go.Scatter(x=head["tasks"], y=head[stat], mode="lines+markers", name=f"head {k + 1}",
                                     legendgroup=f"head {k + 1}", showlegend=col == 1,
                                     line=dict(color=head_colour(k))), row=1, col=col)
    fig.update_layout(title="Head offsets: each head's mean logit and mean weight-row norm after each task",
                      margin=dict(t=110))
    fig.update_xaxes(title_text="tasks learned", dtick=1)
    fig.update_yaxes(title_text="mean logit", row=1, col=1)
    fig.update_yaxes(title_text="mean weight-row norm", row=1, col=2)
    if len(series) < 2:
        _note(fig, NO_TASK_NOTE if not series else ONE_HEAD_NOTE)
    return fig


def newest_vs_old_figure(result: RunResult) -> go.Figure:
    """TAg accuracy (%) on the newest task and the mean TAg accuracy on the old tasks after each
    task t >= 2 (solid lines), with the same TAw (dotted) for contrast: the offsets show in TAg
    only. With 0 or 1 tasks done: empty lines and the note "no old tasks until 2 tasks are
    learned"."""
    data = newest_vs_old(result)
    fig = go.Figure()
    for kind, dash in (("tag", "solid"), ("taw", "dot")):
        for which, colour, name in (("newest", HEAD_COLOURS[0], "newest task"),
                                    ("old", HEAD_COLOURS[1], "old tasks (mean)")):
            fig.add_trace(go.Scatter(x=data["tasks"], y=[100 * v for v in data[f"{kind}_{which}"]],
                                     mode="lines+markers", name=f"{name}, {KIND_NAMES[kind]}",
                                     line=dict(color=colour, dash=dash)))
    fig.update_layout(title="Task-agnostic accuracy on the newest task vs on the old tasks (task-aware dotted)",
                      xaxis_title="tasks learned", yaxis_title="accuracy (%)")
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(range=[-2, 102])
    if not data["tasks"]:
        _note(fig, "no old tasks until 2 tasks are learned")
    return fig


def _extremes(values: list[float]) -> tuple[int, int]:
    """(index of the largest value, index of the smallest), the first of equals."""
    return int(np.argmax(values)), int(np.argmin(values))


def _heads_sentence(values: list[float], what: str, most: str, least: str) -> str:
    """'head 3 (the newest) has the highest mean logit (2.000) and head 1 the lowest (0.300), 1.700
    apart', or 'all 3 heads have the same mean logit (0.500)'."""
    high, low = _extremes(values)
    if values[high] == values[low]:
        return f"all {len(values)} heads have the same {what} ({values[high]:.3f})"
    newest = " (the newest)" if high == len(values) - 1 else ""
    return (f"head {high + 1}{newest} has the {most} {what} ({values[high]:.3f}) and head {low + 1} the {least} "
            f"({values[low]:.3f}), {values[high] - values[low]:.3f} apart")


def _spread_history(result: RunResult) -> str:
    """' (up from 0.800 after task 2)': the gap after the first task with two heads, or '' when that is
    the last."""
    spreads = offset_spread(result)
    first = next((t for t, stats in enumerate(result.head_stats) if len(stats["logit_mean"]) > 1), None)
    if first is None or first == len(spreads) - 1:
        return ""
    if spreads[-1] == spreads[first]:
        return f" (the same after task {first + 1})"
    return f" ({'up' if spreads[-1] > spreads[first] else 'down'} from {spreads[first]:.3f} after task {first + 1})"


def _points(newest: float, old: float) -> str:
    """'97.0%, above the old tasks' mean (20.0%) by 77.0 points' (or below, or equal to it)."""
    if newest == old:
        return f"{100 * newest:.1f}%, equal to the old tasks' mean"
    way = "above" if newest > old else "below"
    return f"{100 * newest:.1f}%, {way} the old tasks' mean ({100 * old:.1f}%) by {100 * abs(newest - old):.1f} points"


def _newest_vs_old_sentence(result: RunResult) -> str:
    """What the newest-vs-old chart shows after the last task: "On the newest task, task-agnostic
    accuracy is 97.0%, above the old tasks' mean (20.0%) by 77.0 points; task-aware, 97.0%, above
    ... ." ("task-aware the same" where the two matrices agree, as with data-IL's one head), or ""
    before task 2."""
    data = newest_vs_old(result)
    if not data["tasks"]:
        return ""
    tag_new, tag_old, taw_new, taw_old = (data[key][-1] for key in ("tag_newest", "tag_old", "taw_newest", "taw_old"))
    same = (taw_new, taw_old) == (tag_new, tag_old)
    aware = "task-aware the same" if same else f"task-aware, {_points(taw_new, taw_old)}"
    return f"On the newest task, task-agnostic accuracy is {_points(tag_new, tag_old)}; {aware}."


def offset_reading(result: RunResult) -> str:
    """What the two head-offset charts show after the last task T, in plain words from their
    numbers: which head has the highest and which the lowest mean logit, how far apart (and that
    gap after the first task with two heads), which has the largest and the smallest mean
    weight-row norm; and the newest task's TAg accuracy against the old tasks' mean (above, below
    or equal, by how many points), with the same for TAw. 0 tasks: says nothing is learned yet;
    one head (data-IL, or after task 1): says there are no offsets to compare (data-IL: plus the
    newest-vs-old sentence from 2 tasks on)."""
    result = _checked(result)
    if not result.head_stats:
        return "No task learned yet: there are no heads to compare."
    stats = result.head_stats[-1]
    after = f"After task {len(result.head_stats)}"
    comparison = _newest_vs_old_sentence(result)
    if len(stats["logit_mean"]) < 2:
        return " ".join(filter(None, [f"{after} the model has one head: no offsets to compare.", comparison]))
    if not all(math.isfinite(v) for v in stats["logit_mean"] + stats["weight_norm"]):
        return (f"{after} the heads' mean logits or weight norms are not all finite ({stats['logit_mean']}, "
                f"{stats['weight_norm']}): no offsets can be read.")
    logits = _heads_sentence(stats["logit_mean"], "mean logit", "highest", "lowest") + _spread_history(result)
    norms = _heads_sentence(stats["weight_norm"], "mean weight-row norm", "largest", "smallest")
    return " ".join(filter(None, [f"{after}, {logits}; {norms}.", comparison]))


def offset_spread(result: RunResult) -> list[float]:
    """After each task t: max_k - min_k of the heads' mean logits (0 with one head), the imbalance
    softmax leaves free, in one number a race can overlay."""
    return [max(s["logit_mean"]) - min(s["logit_mean"]) for s in _checked(result).head_stats]


def spread_figure(results: dict[str, RunResult]) -> go.Figure:
    """One line per named run: the spread of its heads' mean logits after each task."""
    fig = go.Figure()
    for name, result in results.items():
        spread = offset_spread(result)
        fig.add_trace(go.Scatter(x=list(range(1, len(spread) + 1)), y=spread, mode="lines+markers", name=name))
    fig.update_layout(title="Head offsets: spread of the heads' mean logits (largest - smallest) after each task",
                      xaxis_title="tasks learned", yaxis_title="mean-logit spread")
    fig.update_xaxes(dtick=1)
    return fig
