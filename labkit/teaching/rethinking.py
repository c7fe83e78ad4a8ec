"""Notebook 04's computations ("Rethinking softmax", docs/PAPERS.md, section 1): each variant's
paired-by-seed difference from its plain method, the paper's claims judged on the notebook's
runs as `python -m labkit reproduce` judges them, which head wins the task-agnostic argmax, the
model a run holds after every task, and LwM's attention as its distillation sees it (Grad-CAM
maps of a teacher and of its students).

Paired differences: runs of the same seed share the class order and the initial weights, so
d_s = variant_s - plain_s removes what the seed does to both (labkit.analysis.paired); a run that does not
count (labkit.analysis.counted: one that did not finish) drops its seed from the pair.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from labkit.analysis.model_probes import winner_agreement
from labkit.analysis.paired import PairedDifference, paired_runs
from labkit.experiment.metrics import KIND_ABBREVIATIONS, KINDS
from labkit.experiment.result import RunResult
from labkit.methods import lucir
from labkit.methods.lwm import attention_distillation, grad_cam
from labkit.models import IncrementalNet
from labkit.sweep.rows import task_models
from labkit.teaching.paper_claims import CLAIMS
from labkit.teaching.published import RETHINKING
from labkit.teaching.reproduce import ClaimResult, judge

# column label ('TAw acc', 'TAg forg') -> (kind, total metric of RunResult.summary)
TOTAL_COLUMNS = {f"{KIND_ABBREVIATIONS[kind]} {short}": (kind, metric) for kind in KINDS
                 for short, metric in (("acc", "total_average_accuracy"), ("forg", "total_average_forgetting"))}


def paired_against(results: dict[str, list[RunResult]], baseline: str,
                   totals: dict[str, tuple[str, str]] = TOTAL_COLUMNS) -> dict[str, dict[str, PairedDifference]]:
    """method -> total's label -> paired difference (method - baseline) over the seeds where both
    runs count (finished), for every method of `results` but the baseline."""
    return {method: {label: paired_runs(runs, results[baseline], lambda r, k=kind, m=metric: r.summary(k)[m])
                     for label, (kind, metric) in totals.items()}
            for method, runs in results.items() if method != baseline}


def paired_frame(differences: dict[str, dict[str, PairedDifference]]) -> pd.DataFrame:
    """The differences as text, one row per method: '+1.2 points [+0.3, +2.1], positive in 3 of
    3 seeds', with ': not separated' where the 95% interval holds zero."""
    return pd.DataFrame({m: {label: d.text() for label, d in row.items()} for m, row in differences.items()}).T


def separated(differences: dict[str, dict[str, PairedDifference]]) -> list[tuple[str, str, PairedDifference]]:
    """The (method, total's label, difference) whose 95% interval excludes zero."""
    return [(m, label, d) for m, row in differences.items() for label, d in row.items() if d.separated]


def claim_results(runs: dict[str, dict[str, list[RunResult]]], paper: str = RETHINKING) -> list[ClaimResult]:
    """Every two-arm claim of `paper` (labkit.teaching.paper_claims.CLAIMS, in its order) whose two arms
    `runs` holds on the claim's CPU protocol, judged as `python -m labkit reproduce` judges it
    (labkit.teaching.reproduce: d_s over the seeds where both arms finished, verdict "shown", "not
    separated" or "opposite"), on the seeds run here. `runs`: protocol name ('rethinking-cpu')
    -> arm label as the claim names it ('lwf-bsr') -> results."""
    out = []
    for key in CLAIMS:
        claim = CLAIMS.get(key)
        arms = runs.get(claim.cpu.name, {})
        if claim.paper != paper or claim.study or not all(label in arms for label in claim.labels):
            continue
        out.append(judge(claim, claim.cpu, *(arms[label] for label in claim.labels)))
    return out


def lucir_readings() -> dict[str, str]:
    """LUCIR variant suffix ('' for LUCIR itself) -> the reading labkit.methods.lucir's docstring
    table gives its row ('released code: ...', 'inferred: ...'), so a table of the variants
    labels them as the method does."""
    readings = {}
    for line in (lucir.__doc__ or "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) == 6 and re.fullmatch(r"\(none\)|-[a-z0-9]+", cells[0]):
            readings["" if cells[0] == "(none)" else cells[0][1:]] = cells[5]
    return readings


def argmax_deciders(kept: dict[str, list[RunResult]], runs_dir: Path) -> dict[str, list[dict[str, float]]]:
    """method -> per run, labkit.analysis.model_probes.winner_agreement of its model after the last task
    on the test images of every task: the share of images whose task-agnostic winner (the head
    holding the largest logit) is the head of largest task mass, of largest offset (mean logit)
    and of largest confidence. The runs are stored with their task models kept."""
    out: dict[str, list[dict[str, float]]] = {}
    for method, results in kept.items():
        for result in results:
            models, scenario = task_models(result, runs_dir)
            out.setdefault(method, []).append(winner_agreement(models[-1], scenario, len(models) - 1))
    return out


def top_class_attention(model: IncrementalNet, x: torch.Tensor, old_heads: int,
                        classes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM maps Q (N, H, W) of the last conv block for class c_n among the logits of heads
    0..old_heads-1 (c_n = their argmax, LwM's "top base class", unless `classes` are given),
    and c. Computed as LwM's loss computes the teacher's (labkit.methods.lwm), in eval mode."""
    model.eval()
    with torch.no_grad():
        feature_map = model.backbone.conv_features(x)
    feature_map.requires_grad_(True)
    with torch.enable_grad():
        logits = torch.cat(model.heads(model.backbone.pool(feature_map))[:old_heads], dim=1)
        classes = logits.argmax(dim=1) if classes is None else classes
        cam = grad_cam(feature_map, logits.gather(1, classes[:, None]).squeeze(1))
    return cam.detach(), classes


def attention_distances(teacher: IncrementalNet, students: dict[str, IncrementalNet], x: torch.Tensor,
                        old_heads: int) -> dict[str, float]:
    """Per student, LwM's attention-distillation loss L_AD between its Grad-CAM and the teacher's
    on x (mean over the images), both for the teacher's top old class: 0 when the maps agree up
    to scale."""
    teacher_cam, classes = top_class_attention(teacher, x, old_heads)
    return {name: float(attention_distillation(top_class_attention(m, x, old_heads, classes)[0], teacher_cam))
            for name, m in students.items()}


def attention_drift(kept: dict[str, list[RunResult]], runs_dir: Path) -> dict[str, dict[int, list[float]]]:
    """method -> step t (1..T-1) -> per seed, L_AD between the Grad-CAM of the model after task t
    and of its own teacher (the same run after task t-1), on the test images of the old tasks
    0..t-1 (the images whose attention should be kept; LwM trains L_AD on task t's images). The
    runs are stored in `runs_dir` with their task models kept (labkit.sweep.rows.run_rows)."""
    out: dict[str, dict[int, list[float]]] = {}
    for method, results in kept.items():
        for result in results:
            models, scenario = task_models(result, runs_dir)
            for t in range(1, len(models)):
                x = torch.cat([scenario.tasks[u].test_x for u in range(t)])
                distance = attention_distances(models[t - 1], {"student": models[t]}, x, t)["student"]
                out.setdefault(method, {}).setdefault(t, []).append(distance)
    return out


def attention_figure(pairs: dict[str, tuple[IncrementalNet, IncrementalNet]], x: torch.Tensor,
                     old_heads: int, title: str) -> go.Figure:
    """One row per image: the image, then for each named (teacher, student) pair the Grad-CAM
    map of the teacher and of the student for that teacher's top old class, each map divided by
    its largest value (L_AD compares maps up to scale) and enlarged to the image's size
    (nearest neighbour)."""
    maps = {}
    for name, (teacher, student) in pairs.items():
        teacher_cam, classes = top_class_attention(teacher, x, old_heads)
        maps[f"{name} teacher"] = teacher_cam
        maps[f"{name} student"] = top_class_attention(student, x, old_heads, classes)[0]
    columns = ["image"] + list(maps)
    fig = make_subplots(rows=len(x), cols=len(columns), column_titles=columns,
                        horizontal_spacing=0.02, vertical_spacing=0.02)
    for n in range(len(x)):
        fig.add_trace(go.Heatmap(z=x[n, 0].tolist(), colorscale="gray_r", showscale=False), row=n + 1, col=1)
        for c, cam in enumerate(maps.values(), start=2):
            q = F.interpolate(cam[n][None, None], size=tuple(x.shape[-2:]), mode="nearest")[0, 0]
            fig.add_trace(go.Heatmap(z=(q / q.max().clamp_min(1e-12)).tolist(), coloraxis="coloraxis"),
                          row=n + 1, col=c)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(title=title, coloraxis=dict(colorscale="Viridis", cmin=0, cmax=1, colorbar_title="map / max"),
                      height=120 * len(x) + 110, width=120 * len(columns) + 120)
    return fig

