"""DLCFT's comparisons (labkit.protocols.comparisons) as tables beside the paper's published numbers, the
paired-by-seed differences that say which gaps the seeds separate, and the per-task curves of
its Figs. 5 and 6: the computations behind notebook 05.

For each comparison row (one method, its own recipe) over seeds:

    final accuracy    A_T = 1/T sum_u acc[T, u]     (task-aware in task-IL, task-agnostic otherwise)
    final forgetting  F_T = 1/(T-1) sum_{u<T} max_{t<T} acc[t, u] - acc[T, u]
    k-NN              the k-NN probe of the backbone's features after the last task (labkit.experiment.knn_probe)

each as mean and sample standard deviation over the runs that count (labkit.analysis.spread over
labkit.analysis.counted: those that finished; the others are named in the runs column), next to the
paper's final accuracy on Seq-CIFAR-100 with 10 tasks and a ResNet-18 pre-trained on ImageNet32
(Shon et al., ECCV 2022; read from labkit.teaching.published, described in docs/PAPERS.md, section 3). Tables
are in percent; paired differences (labkit.analysis.paired) in fractions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from labkit.analysis.chance import final_chance
from labkit.analysis.counted import counted, runs_text
from labkit.analysis.paired import PairedDifference, paired_difference, paired_runs
from labkit.analysis.spread import mean_sd, mean_sd_text
from labkit.config import RunConfig
from labkit.curvature import kfac_factors
from labkit.data import Scenario, load_dataset
from labkit.experiment import pretrain
from labkit.experiment.knn_probe import knn_probe
from labkit.experiment.metrics import natural_kind
from labkit.experiment.result import RunResult
from labkit.experiment.runner import build_run_model, config_scenario, grow_heads, pick_device, scenario_on
from labkit.methods import METHODS
from labkit.models import IncrementalNet
from labkit.protocols.comparisons import SCENARIO_METHODS
from labkit.sweep.rows import run_rows  # noqa: F401  (notebook 05 calls study.run_rows)
from labkit.teaching.published import DLCFT, PublishedNumber, paper_protocol, paper_rows, published_table, table_numbers

# The paper's final accuracy on Seq-CIFAR-100 with 10 tasks (percent), by row label, read from
# labkit.teaching.published (the one copy; docs/PAPERS.md, section 3): Table 1 (data-IL), Table 2
# (task-/class-IL; DLCFT there is TK-FAC) and Table 3 (the ablation: DLCFT with K-FAC, and OSLA =
# non-linear + softmax CE with K-FAC, the only class-IL number for OSLA), for the rows of labkit's
# comparisons (labkit.protocols.comparisons.SCENARIO_METHODS). Rows the paper does not report are absent.
SCENARIOS = ("data-il", "task-il", "class-il")
PAPER_ROWS: dict[str, dict[str, PublishedNumber]] = {
    s: {label: e for label, e in paper_rows(DLCFT, s, 10).items() if label in SCENARIO_METHODS[s]} for s in SCENARIOS}
# the same numbers in percent, for the tables' published column: scenario -> row label -> percent
PUBLISHED_PERCENT: dict[str, dict[str, float]] = {s: {label: round(100 * e.value, 2) for label, e in rows.items()}
                                                  for s, rows in PAPER_ROWS.items()}


def source_of(scenario: str) -> str:
    """'Table 1', 'Tables 2 and 3': the tables the scenario's published numbers come from."""
    numbers = sorted({n for e in PAPER_ROWS[scenario].values() for n in table_numbers(e.source)})
    return f"Table {numbers[0]}" if len(numbers) == 1 else \
        f"Tables {', '.join(map(str, numbers[:-1]))} and {numbers[-1]}"


PUBLISHED_SOURCE = {s: source_of(s) for s in SCENARIOS}
# Table 3 with K-FAC: the same penalty on the non-linear softmax-CE network vs the linearised MSE one
# (10 tasks; the paper has no task-IL ablation).
ABLATION_ROWS = {"osla": "non-linear + softmax CE (OSLA)", "dlcft": "linear + MSE (DLCFT)"}
ABLATION_PUBLISHED = {s: {e.label: round(100 * e.value, 2) for e in paper_protocol(DLCFT, s, 10)
                          if e.source == "paper text, Table 3" and e.label in ABLATION_ROWS}
                      for s in SCENARIOS}
ABLATION_PUBLISHED = {s: rows for s, rows in ABLATION_PUBLISHED.items() if rows}
# The paper's ER / DER / DER++ come from Mammoth, whose class-IL network has one head over every class
# from the first task on (RunConfig.head_layout "all-classes"); beside that column they run the same way.
MAMMOTH_ROWS = ("er", "der", "derpp")
SCENARIO_NAMES = {"data-il": "data-IL", "task-il": "task-IL", "class-il": "class-IL"}


def percent(mean_and_sd: tuple[float, float]) -> tuple[float, float]:
    """A (mean, sd) of fractions (labkit.analysis.spread.mean_sd) in percent, as the tables hold them."""
    mean, sd = mean_and_sd
    return 100 * mean, 100 * sd


def final_by_seed(runs: list[RunResult], scenario: str) -> dict[int, float]:
    """seed -> final average accuracy (fraction, the scenario's own kind) of the runs that count."""
    kind = natural_kind(scenario)
    return {r.config["seed"]: r.summary(kind)["final_average_accuracy"] for r in counted(runs)}


def paired(a: list[RunResult], b: list[RunResult], scenario: str) -> PairedDifference | None:
    """Final accuracy of a minus b, paired by seed over the seeds where both runs count (None
    when there is no such seed)."""
    kind = natural_kind(scenario)
    return paired_runs(a, b, lambda r: r.summary(kind)["final_average_accuracy"])


def paired_after_task(a: list[RunResult], b: list[RunResult], scenario: str, task: int) -> PairedDifference | None:
    """Average accuracy A_t after task `task` (0-based; the scenario's own kind) of a minus b,
    paired by seed over the seeds where both runs count (None when there is no such seed)."""
    kind = natural_kind(scenario)
    return paired_runs(a, b, lambda r: r.summary(kind)["average_accuracy"][task])


def beside_paper(configs: dict[str, RunConfig]) -> dict[str, RunConfig]:
    """The rows as they sit beside the paper's column: in class-IL, ER / DER / DER++ with
    Mammoth's one head over every class (head_layout "all-classes"), the arrangement the paper's
    numbers for them were made with; every other row (and every row of another scenario, where
    labkit has no such arrangement) as it is."""
    return {label: c.replace(head_layout="all-classes") if c.scenario == "class-il" and label in MAMMOTH_ROWS else c
            for label, c in configs.items()}


def paper_numbers(scenarios: tuple[str, ...] = SCENARIOS) -> pd.DataFrame:
    """The paper's numbers set beside the comparison rows (labkit.teaching.published), one row each:
    scenario, row label, then published_table's columns (method, paper, source, protocol, metric,
    value %)."""
    frames = [published_table(list(PAPER_ROWS[s].values())).assign(scenario=SCENARIO_NAMES[s],
                                                                     row=list(PAPER_ROWS[s]))
              for s in scenarios]
    table = pd.concat(frames, ignore_index=True)
    return table[["scenario", "row", *[c for c in table.columns if c not in ("scenario", "row")]]]


def scenario_table(results: dict[str, list[RunResult]], scenario: str) -> pd.DataFrame:
    """One row per comparison row: seeds (runs), diverged, runs ('2 of 3 (1 failed)': the runs
    the means are over, labkit.analysis.counted, and those left out), accuracy, accuracy sd, forgetting,
    forgetting sd, k-NN, k-NN sd (ours, percent, the scenario's own accuracy kind), published
    (NaN where the paper has no number) and head layout (of the row's runs: RunConfig.head_layout)."""
    rows = {}
    for label, all_runs in results.items():
        runs = counted(all_runs)
        summaries = [r.summary(natural_kind(scenario)) for r in runs]
        acc = percent(mean_sd(s["final_average_accuracy"] for s in summaries))
        forgetting = percent(mean_sd(s["final_average_forgetting"] for s in summaries))
        knn = percent(mean_sd(r.knn_acc[-1] for r in runs)) if all(r.knn_acc for r in runs) else (np.nan, np.nan)
        rows[label] = {"seeds": len(all_runs), "diverged": sum(r.status == "diverged" for r in all_runs),
                       "runs": runs_text(all_runs), "accuracy": acc[0], "accuracy sd": acc[1],
                       "forgetting": forgetting[0], "forgetting sd": forgetting[1], "k-NN": knn[0], "k-NN sd": knn[1],
                       "published": PUBLISHED_PERCENT[scenario].get(label, np.nan),
                       "head layout": all_runs[0].config.get("head_layout", "per-task") if all_runs else "per-task"}
    return pd.DataFrame.from_dict(rows, orient="index")


UNLIKE_PAPER = "†"  # marks a published cell whose row runs another head arrangement than the paper's


def formatted(table: pd.DataFrame, config: RunConfig) -> pd.DataFrame:
    """A scenario_table for reading: 'mean ± sd' strings with one decimal, '-' for no number; the
    accuracy columns' headers give their chance level (a uniform guess) for `config`'s dataset and
    scenario, the published column its source. A published cell of ER / DER / DER++ whose row
    does not run Mammoth's one head over every class (the paper's arrangement for them) is
    marked UNLIKE_PAPER."""
    def cell(row: pd.Series, column: str) -> str:  # the table holds percent already: scale 1
        return mean_sd_text(row[column], row[f"{column} sd"], scale=1)

    def published(label: str, row: pd.Series) -> str:
        if np.isnan(row["published"]):
            return "-"
        unlike = label in MAMMOTH_ROWS and row.get("head layout", "per-task") != "all-classes"
        return f"{row['published']:.1f}" + (f" {UNLIKE_PAPER}" if unlike else "")

    chance = 100 * final_chance(config)
    knn_chance = 100 * final_chance(config, "tag")  # every class seen, global labels
    return pd.DataFrame({
        f"final accuracy (chance {chance:.1f})": [cell(r, "accuracy") for _, r in table.iterrows()],
        "final forgetting": [cell(r, "forgetting") for _, r in table.iterrows()],
        f"k-NN after last task (chance {knn_chance:.1f})": [cell(r, "k-NN") for _, r in table.iterrows()],
        "runs": list(table["runs"]),
        f"paper: Seq-CIFAR-100, 10 tasks ({PUBLISHED_SOURCE[config.scenario]})": [
            published(label, r) for label, r in table.iterrows()],
    }, index=table.index)


def differences(results: dict[str, list[RunResult]], scenario: str, reference: str = "dlcft") -> pd.DataFrame:
    """`reference` minus every other row, final accuracy paired by seed: mean, 95% interval
    (percentage points), seeds, whether the interval excludes 0, and the reading as text."""
    rows = {}
    for label, runs in results.items():
        if label == reference:
            continue
        d = paired(results[reference], runs, scenario)
        if d is None:
            rows[f"{reference} − {label}"] = {"reading": "no seed where both runs finished"}
            continue
        rows[f"{reference} − {label}"] = {"mean": 100 * d.mean, "low": 100 * d.low, "high": 100 * d.high,
                                          "seeds": d.n, "separated": d.separated, "reading": d.text()}
    return pd.DataFrame.from_dict(rows, orient="index")


def ablation_table(results: dict[str, dict[str, list[RunResult]]]) -> pd.DataFrame:
    """DLCFT's Table 3 with K-FAC, one row per scenario that has both rows: ours (mean over seeds,
    percent) for the non-linear softmax-CE network (`osla`) and the linearised MSE one (`dlcft`),
    the gain dlcft - osla paired by seed (labkit.analysis.paired), and the paper's Table 3 where it has the
    scenario."""
    rows = {}
    for scenario, by_label in results.items():
        if not all(label in by_label for label in ABLATION_ROWS):
            continue
        gain = paired(by_label["dlcft"], by_label["osla"], scenario)
        published = ABLATION_PUBLISHED.get(scenario, {})
        ours = {label: 100 * mean_sd(final_by_seed(by_label[label], scenario).values())[0] for label in ABLATION_ROWS}
        rows[SCENARIO_NAMES[scenario]] = {
            **{f"ours: {ABLATION_ROWS[label]}": f"{ours[label]:.1f}" for label in ABLATION_ROWS},
            "ours: gain, paired by seed": gain.text() if gain else "-",
            **{f"paper (Table 3): {ABLATION_ROWS[label]}": f"{published[label]:.2f}" if published else "-"
               for label in ABLATION_ROWS},
            "paper (Table 3): gain": f"{published['dlcft'] - published['osla']:+.2f}" if published else "-"}
    return pd.DataFrame.from_dict(rows, orient="index")


def accuracy_after_each_task(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """Average accuracy A_t after each task t (percent, mean over the runs that count;
    the scenario's own kind): index "tasks learned" 1..T, one column per row label (DLCFT's Fig. 5
    for data-IL)."""
    columns = {}
    for label, runs in results.items():
        kind = natural_kind(runs[0].config["scenario"])
        columns[label] = 100 * np.mean([r.summary(kind)["average_accuracy"] for r in counted(runs)], axis=0)
    return tasks_frame(columns)


def knn_after_each_task(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """The k-NN probe after each task (percent, mean over the runs that count), one
    column per row label (DLCFT's Fig. 6 for data-IL)."""
    return tasks_frame({label: 100 * np.mean([r.knn_acc for r in counted(runs)], axis=0)
                        for label, runs in results.items()})


def tasks_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="tasks learned")
    return frame


def curves_figure(frame: pd.DataFrame, title: str, yaxis_title: str, dashed: tuple[str, ...] = (),
                  chance: list[float] | None = None) -> go.Figure:
    """One line per column of a tasks_frame against tasks learned; columns in `dashed` dashed;
    `chance` (fractions, one per task) as a dotted grey line."""
    fig = go.Figure()
    for label in frame.columns:
        fig.add_trace(go.Scatter(x=list(frame.index), y=list(frame[label]), mode="lines+markers", name=label,
                                 line=dict(dash="dash") if label in dashed else None))
    if chance is not None:
        fig.add_trace(go.Scatter(x=list(frame.index), y=[100 * c for c in chance], mode="lines", name="chance",
                                 line=dict(dash="dot", color="grey")))
    fig.update_layout(title=title, xaxis_title="tasks learned", yaxis_title=yaxis_title)
    fig.update_xaxes(dtick=1)
    return fig


def with_buffer(configs: dict[str, RunConfig], size: int) -> dict[str, RunConfig]:
    """The same rows with a replay buffer of `size` images (method_params buffer_size)."""
    return {label: c.replace(method_params={**c.method_params, "buffer_size": size}) for label, c in configs.items()}


def buffer_frame(results: dict[int, dict[str, list[RunResult]]], scenario: str) -> pd.DataFrame:
    """Final accuracy (percent) against buffer size: index buffer size, columns (row label,
    "mean" or "sd") over the runs that count."""
    rows: dict[int, dict] = {}
    for size, by_label in results.items():
        for label, runs in by_label.items():
            rows.setdefault(size, {})[(label, "mean")], rows[size][(label, "sd")] = \
                percent(mean_sd(final_by_seed(runs, scenario).values()))
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def buffer_figure(frame: pd.DataFrame, title: str, chance: float) -> go.Figure:
    """A buffer_frame as one line per row label with ±1 sd error bars, buffer size on the x axis;
    `chance` (a fraction) as a dotted grey line."""
    fig = go.Figure()
    sizes = list(frame.index)
    for label in dict.fromkeys(label for label, _ in frame.columns):
        fig.add_trace(go.Scatter(x=sizes, y=list(frame[(label, "mean")]), mode="lines+markers", name=label,
                                 error_y=dict(type="data", array=list(frame[(label, "sd")]))))
    fig.add_trace(go.Scatter(x=sizes, y=[100 * chance] * len(sizes), mode="lines", name="chance",
                             line=dict(dash="dot", color="grey")))
    fig.update_layout(title=title, xaxis_title="replay buffer (images)", yaxis_title="final accuracy (%)")
    fig.update_xaxes(type="category")
    return fig


def scenario_of(config: RunConfig) -> tuple[Scenario, dict | None]:
    """The tasks a run of `config` learns (the pre-training images left out) and the pre-trained
    checkpoint it starts from, as labkit.experiment.runner.run builds them."""
    device = pick_device(config.device)
    dataset = load_dataset(config.dataset, config.data_root)
    checkpoint = pretrain.resolve(config.pretrained, config.dataset, config.backbone, config.data_root, device)
    if checkpoint is not None:
        dataset = pretrain.without_pretraining_images(dataset, checkpoint)
    return scenario_on(config_scenario(config, dataset),
                       device), checkpoint


def train_images_per_task(config: RunConfig) -> list[int]:
    """How many training images each task of a run of `config` has."""
    return [len(task.train_y) for task in scenario_of(config)[0].tasks]


def pretrained_model(config: RunConfig):
    """The scenario and the model a run of `config` starts from (pre-trained backbone, not
    linearised; the first task's head grown), as labkit.experiment.runner.run builds them."""
    scenario, checkpoint = scenario_of(config)
    model: IncrementalNet = build_run_model(config, scenario, METHODS.get("finetune")(), checkpoint).to(
        pick_device(config.device))
    grow_heads(model, scenario, 0)
    return scenario, model


def pretrained_knn(config: RunConfig, seeds: list[int]) -> dict[int, list[float]]:
    """seed -> the k-NN probe (fractions) after each task of the pre-trained backbone, never
    fine-tuned: what the probe reads when only its references (the training images of the
    tasks seen so far) grow. The baseline Fig. 6's rise has to be read against."""
    curves = {}
    for seed in seeds:
        scenario, model = pretrained_model(config.replace(seed=seed))
        curves[seed] = [knn_probe(model, scenario, t, config.knn_k) for t in range(config.tasks)]
    return curves


def knn_gain(runs: list[RunResult], frozen: dict[int, list[float]]) -> PairedDifference | None:
    """The k-NN probe after the last task of the fine-tuned runs minus the never fine-tuned
    backbone's, paired by seed over the runs that count (None when none does)."""
    pairs = [(r.knn_acc[-1], frozen[r.config["seed"]][-1]) for r in counted(runs) if r.knn_acc]
    return paired_difference(*map(list, zip(*pairs))) if pairs else None


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
