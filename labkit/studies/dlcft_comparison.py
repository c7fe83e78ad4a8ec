"""DLCFT's comparisons (labkit.comparisons) as tables beside the paper's published numbers, and the
per-task curves of its Figs. 5 and 6: the computations behind notebook 05.

Every number is in percent. For each comparison row (one method, its own recipe) over seeds:

    final accuracy    A_T = 1/T sum_u acc[T, u]     (task-aware in task-IL, task-agnostic otherwise)
    final forgetting  F_T = 1/(T-1) sum_{u<T} max_{t<T} acc[t, u] - acc[T, u]
    k-NN              the k-NN probe of the backbone's features after the last task (labkit.probe)

each as mean and sample standard deviation over seeds, next to the paper's final accuracy on
Seq-CIFAR-100 with 10 tasks and a ResNet-18 pre-trained on ImageNet32 (Shon et al., ECCV 2022).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from labkit import pretrain
from labkit.config import RunConfig
from labkit.curvature import kfac_factors
from labkit.data import load_dataset, make_scenario
from labkit.methods import methods
from labkit.models import IncrementalNet
from labkit.probe import knn_probe
from labkit.result import RunResult
from labkit.runner import build_run_model, grow_heads, natural_kind, pick_device, scenario_on
from labkit.sweep import mean_spread, trained

# Seq-CIFAR-100, 10 tasks, final accuracy (%): Table 1 (data-IL), Table 2 (task-/class-IL; DLCFT
# there is TK-FAC), Table 3 (ablation: DLCFT with K-FAC, and OSLA = non-linear + softmax CE with
# K-FAC, the only class-IL number for OSLA). Rows the paper does not report are absent.
PUBLISHED: dict[str, dict[str, float]] = {
    "data-il": {"finetune": 78.74, "lwf": 80.25, "ewc": 78.88, "mas": 75.24, "osla": 79.23,
                "dlcft": 81.95, "dlcft-tkfac": 82.70, "joint": 83.57},
    "task-il": {"lwf": 92.16, "ewc": 77.44, "osla": 81.03, "er": 79.14, "der": 91.47, "derpp": 91.56,
                "dlcft-tkfac": 95.79},
    "class-il": {"er": 43.52, "der": 58.07, "derpp": 53.29, "osla": 44.93, "dlcft": 59.86,
                 "dlcft-tkfac": 59.98},
}
# Table 3 with K-FAC: the same penalty on the non-linear softmax-CE network vs the linearised MSE one.
ABLATION_ROWS = {"osla": "non-linear + softmax CE (OSLA)", "dlcft": "linear + MSE (DLCFT)"}
SCENARIO_NAMES = {"data-il": "data-IL", "task-il": "task-IL", "class-il": "class-IL"}


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value), in percent."""
    mean, sd = mean_spread(values)
    return 100 * mean, 100 * sd


def scenario_table(results: dict[str, list[RunResult]], scenario: str) -> pd.DataFrame:
    """One row per comparison row: seeds, diverged (runs left out), accuracy, accuracy sd, forgetting, forgetting sd, k-NN,
    k-NN sd (ours, percent, the scenario's own accuracy kind) and published (NaN where the paper
    has no number)."""
    rows = {}
    for label, all_runs in results.items():
        runs = trained(all_runs)  # diverged runs are left out of the means, and counted
        summaries = [r.summary(natural_kind(scenario)) for r in runs]
        acc = mean_sd([s["final_average_accuracy"] for s in summaries])
        forgetting = mean_sd([s["final_average_forgetting"] for s in summaries])
        knn = mean_sd([r.knn_acc[-1] for r in runs]) if all(r.knn_acc for r in runs) else (np.nan, np.nan)
        rows[label] = {"seeds": len(all_runs), "diverged": len(all_runs) - len(runs), "accuracy": acc[0], "accuracy sd": acc[1], "forgetting": forgetting[0],
                       "forgetting sd": forgetting[1], "k-NN": knn[0], "k-NN sd": knn[1],
                       "published": PUBLISHED[scenario].get(label, np.nan)}
    return pd.DataFrame.from_dict(rows, orient="index")


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """A scenario_table for reading: 'mean ± sd' strings with one decimal, '-' for no number."""
    def cell(mean: float, sd: float | None = None) -> str:
        if np.isnan(mean):
            return "-"
        return f"{mean:.1f}" if sd is None else f"{mean:.1f} ± {sd:.1f}"

    return pd.DataFrame({
        "final accuracy": [cell(r["accuracy"], r["accuracy sd"]) for _, r in table.iterrows()],
        "final forgetting": [cell(r["forgetting"], r["forgetting sd"]) for _, r in table.iterrows()],
        "k-NN after last task": [cell(r["k-NN"], r["k-NN sd"]) for _, r in table.iterrows()],
        "published (CIFAR-100)": [cell(r["published"]) for _, r in table.iterrows()],
    }, index=table.index)


def rank_agreement(table: pd.DataFrame) -> float:
    """Spearman correlation between our accuracy and the published one over the rows that have
    both (1: same order; NaN with fewer than three such rows)."""
    both = table.dropna(subset=["published"])
    if len(both) < 3:
        return float("nan")
    return float(both["accuracy"].corr(both["published"], method="spearman"))


def ablation_table(results: dict[str, dict[str, list[RunResult]]]) -> pd.DataFrame:
    """DLCFT's Table 3 with K-FAC, one row per scenario that has both rows: ours (mean over seeds)
    for the non-linear softmax-CE network (`osla`) and the linearised MSE one (`dlcft`), the gain
    (dlcft - osla, paired by seed: mean and sd), and the published numbers where there are."""
    rows = {}
    for scenario, by_label in results.items():
        if not all(label in by_label for label in ABLATION_ROWS):
            continue
        kind = natural_kind(scenario)
        final = {label: [r.summary(kind)["final_average_accuracy"] for r in by_label[label]] for label in ABLATION_ROWS}
        gains = [b - a for a, b in zip(final["osla"], final["dlcft"])]
        published = [PUBLISHED[scenario].get(label, np.nan) for label in ABLATION_ROWS]
        rows[SCENARIO_NAMES[scenario]] = {
            **{f"ours: {ABLATION_ROWS[label]}": mean_sd(final[label])[0] for label in ABLATION_ROWS},
            "ours: gain": mean_sd(gains)[0], "ours: gain sd": mean_sd(gains)[1],
            **{f"published: {ABLATION_ROWS[label]}": p for label, p in zip(ABLATION_ROWS, published)},
            "published: gain": published[1] - published[0]}
    return pd.DataFrame.from_dict(rows, orient="index")


def accuracy_after_each_task(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """Average accuracy A_t after each task t (percent, mean over seeds; the scenario's own kind):
    index "tasks learned" 1..T, one column per row label (DLCFT's Fig. 5 for data-IL)."""
    columns = {}
    for label, runs in results.items():
        kind = natural_kind(runs[0].config["scenario"])
        columns[label] = 100 * np.mean([r.summary(kind)["average_accuracy"] for r in runs], axis=0)
    return tasks_frame(columns)


def knn_after_each_task(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """The k-NN probe after each task (percent, mean over seeds), one column per row label
    (DLCFT's Fig. 6 for data-IL)."""
    return tasks_frame({label: 100 * np.mean([r.knn_acc for r in runs], axis=0) for label, runs in results.items()})


def tasks_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="tasks learned")
    return frame


def curves_figure(frame: pd.DataFrame, title: str, yaxis_title: str, dashed: tuple[str, ...] = ()) -> go.Figure:
    """One line per column of a tasks_frame against tasks learned; columns in `dashed` dashed."""
    fig = go.Figure()
    for label in frame.columns:
        fig.add_trace(go.Scatter(x=list(frame.index), y=list(frame[label]), mode="lines+markers", name=label,
                                 line=dict(dash="dash") if label in dashed else None))
    fig.update_layout(title=title, xaxis_title="tasks learned", yaxis_title=yaxis_title)
    fig.update_xaxes(dtick=1)
    return fig


def pretrained_model(config: RunConfig):
    """The scenario and the model a run of `config` starts from (pre-trained backbone, not
    linearised; the first task's head grown), as labkit.runner.run builds them."""
    device = pick_device(config.device)
    dataset = load_dataset(config.dataset, config.data_root)
    checkpoint = pretrain.resolve(config.pretrained, config.dataset, config.backbone, config.data_root, device)
    if checkpoint is not None:
        dataset = pretrain.without_pretraining_images(dataset, checkpoint)
    scenario = scenario_on(make_scenario(dataset, config.scenario, config.tasks, config.seed, config.val_fraction),
                           device)
    model: IncrementalNet = build_run_model(config, scenario, methods.get("finetune")(), checkpoint).to(device)
    grow_heads(model, scenario, 0)
    return scenario, model


def pretrained_knn(config: RunConfig, seeds: list[int]) -> np.ndarray:
    """The k-NN probe (percent, mean over seeds) after each task of the pre-trained backbone,
    never fine-tuned: what the probe reads when only its references (the training images of the
    tasks seen so far) grow. The baseline Fig. 6's rise has to be read against."""
    curves = []
    for seed in seeds:
        scenario, model = pretrained_model(config.replace(seed=seed))
        curves.append([knn_probe(model, scenario, t, config.knn_k) for t in range(config.tasks)])
    return 100 * np.mean(curves, axis=0)


def trace_correction(config: RunConfig, images: int = 2000) -> pd.Series:
    """TK-FAC's rescaling c = tr(F_layer) / (tr A tr G) = E[||a||^2 ||g||^2] / (E||a||^2 E||g||^2)
    of each backbone layer, for the Gaussian (MSE) likelihood at theta_0 with the first task's
    freshly initialised head, on up to `images` of its training images (one Monte-Carlo target
    each, the same draws for K-FAC and TK-FAC). c = 1 means TK-FAC's factors equal K-FAC's."""
    scenario, model = pretrained_model(config)
    layers = {f"backbone.{n}": m for n, m in model.backbone.named_modules()
              if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}
    x = scenario.tasks[0].train_x[:images]
    factors = {tk: kfac_factors(model, x, likelihood="gaussian", layers=layers, trace_correction=tk,
                                generator=torch.Generator(device=x.device).manual_seed(0))
               for tk in (False, True)}
    return pd.Series({name: float(torch.trace(factors[True][name].G) / torch.trace(factors[False][name].G))
                      for name in layers}, name="TK-FAC / K-FAC")
