"""The papers' published numbers, each with where it was read: the one copy the app, notebook 05,
the command line and docs/PAPERS.md (whose table is `markdown_table()`) read.

Each PublishedNumber says which paper, where in it (or beside it) the number was read (`source`,
one of SOURCE_KINDS followed by the place), on which protocol (dataset, tasks, backbone,
scenario), which of labkit's summary metrics it is (RunResult.summary(kind)[metric],
labkit.experiment.metrics.summarize):

    total_average_accuracy   mean of acc[t, u] over u <= t       (Rethinking's "total")
    total_average_forgetting mean of f[t, u] over u < t
    final_average_accuracy   1/T sum_u acc[T, u]                 (DLCFT's "final accuracy",
                                                                  Rethinking's "final-stage")
    backward_transfer        1/(T-1) sum_{u<T} acc[T, u] - acc[u, u]   (DLCFT's BWT, Table 6)

with kind "taw" or "tag", the method as labkit names it (with method_params where the paper's
variant is a parameter: DLCFT's and OSLA's curvature) and the value as a fraction.

The Rethinking softmax paper's full text was not available (docs/PAPERS.md, section 1): its
per-variant totals are readings of a plot in the authors' repository, and its abstract's gains
are kept as the abstract states them (PublishedChange), naming no variant and no accuracy kind.
The DLCFT numbers are from the paper's text (its Tables 1, 2, 3 and 6).

Readings this file makes (the sources do not say them): the Rethinking plot's totals and the
appendix table are TAw (the kind FACIL reports first and the paper's curves plot); "BSR" in the
plot's legend is LwF-BSR; DLCFT's Table 6 "DLCFT" is TK-FAC (its accuracy, 95.79, is Table 2's
TK-FAC DLCFT); Table 1's OSLA is K-FAC (OSLA is K-FAC by definition). Backbones a source does not
state are written "not stated".
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import pandas as pd

from labkit.experiment.metrics import KIND_ABBREVIATIONS, natural_kind
from labkit.experiment.result import RunResult
from labkit.errors import ConfigError

RETHINKING = "Rethinking softmax (Zhai et al. 2026)"
DLCFT = "DLCFT (Shon et al. 2022)"
NOT_STATED = "not stated"

PLOT = "pictures/cifar-100.jpg"
# Where a number was read: every source starts with one of these (tests/teaching/test_published.py checks).
SOURCE_KINDS: dict[str, str] = {
    "paper text": "a numbered table of the paper's full text",
    "paper abstract": "a sentence of the paper's abstract",
    "appendix table A.2 (read from an image of it)": "the paper's appendix table, read from a picture of it",
    "read by eye from a plot in the released repository": "a curve of the authors' plot, read by eye, "
                                                          "its totals recomputed from the readings",
    "legend of a plot in the released repository": "a number printed in the legend of the authors' plot",
}
SOURCE_TABLE_2 = "paper text, Table 2"


def source_kind(source: str) -> str:
    """The SOURCE_KINDS entry `source` starts with (ValueError for a source of no known kind)."""
    for kind in SOURCE_KINDS:
        if source.startswith(kind):
            return kind
    raise ValueError(f"source {source!r} is of no known kind: {', '.join(SOURCE_KINDS)}")


@dataclass(frozen=True)
class PublishedNumber:
    paper: str
    source: str
    dataset: str
    tasks: int
    backbone: str
    scenario: str
    metric: str
    kind: str
    method: str
    value: float
    method_params: dict = field(default_factory=dict)
    same_protocol: bool = True

    @property
    def protocol(self) -> str:
        """'CIFAR-100, 10 tasks, ResNet-32', prefixed "the paper's: " when the preset it was
        looked up for runs a quicker protocol."""
        text = f"{self.dataset}, {self.tasks} tasks, {self.backbone}"
        return text if self.same_protocol else f"the paper's: {text}"

    @property
    def label(self) -> str:
        """The row label labkit's comparisons give this method: 'dlcft-tkfac', 'osla', 'er'."""
        return self.method + ("-tkfac" if self.method_params.get("curvature") == "tkfac" else "")


@dataclass(frozen=True)
class PublishedChange:
    """A change the paper states in words against a baseline method ("improve the average accuracy
    of LwF by 11.8 %"), kept as stated: the words do not name the variant that makes it, the
    accuracy kind (TAw or TAg), or whether the % is points or relative."""
    paper: str
    source: str
    dataset: str
    tasks: int
    baseline: str  # labkit's name of the method the change is measured against
    quantity: str  # the abstract's words: "average accuracy", "average forgetting"
    change: str  # "improve" or "reduce"
    percent: float  # as printed
    variant: str = NOT_STATED
    kind: str = NOT_STATED

    @property
    def statement(self) -> str:
        """'improve LwF's average accuracy by 11.8 %'."""
        return f"{self.change} {PAPER_NAMES[self.baseline]}'s {self.quantity} by {self.percent} %"


def _rows(paper: str, source: str, dataset: str, tasks: int, backbone: str, scenario: str, metric: str,
          kind: str, values: dict[str, float], percent: bool = False) -> list[PublishedNumber]:
    """One PublishedNumber per row label in `values` ('dlcft', 'dlcft-tkfac', 'osla-tkfac', ...:
    the suffix -tkfac is curvature=tkfac; DLCFT without it is K-FAC, named so because the paper
    names both); `percent`: the values are printed in percent."""
    entries = []
    for label, value in values.items():
        method = label.removesuffix("-tkfac")
        curvature = "tkfac" if label.endswith("-tkfac") else "kfac" if method == "dlcft" else None
        params = {"curvature": curvature} if curvature else {}
        entries.append(PublishedNumber(paper, source, dataset, tasks, backbone, scenario, metric, kind, method,
                                       round(value / 100, 6) if percent else value, params))
    return entries


# -- Rethinking softmax (docs/PAPERS.md, section 1): FACIL protocol, one head per task, both kinds
ACC, FORG = "total_average_accuracy", "total_average_forgetting"
FINAL, BWT = "final_average_accuracy", "backward_transfer"
RETHINKING_PLOT_READINGS = {  # method: (total average accuracy, total average forgetting), TAw
    "lwf": (0.613, 0.197), "lwf-s": (0.705, 0.066), "lwf-sr": (0.720, 0.043),
    "lwf-br": (0.697, 0.072), "lwf-br2": (0.662, 0.153), "lwf-bsr": (0.731, 0.032),
}
RETHINKING_APPENDIX_ROWS = {  # (dataset, tasks, backbone): {method: (accuracy, forgetting)}, TAw
    ("CIFAR-100", 5, "ResNet-32"): {"lwf": (0.654, 0.114), "lwf-bsr": (0.700, 0.031)},
    ("CIFAR-100", 20, "ResNet-32"): {"lwf": (0.524, 0.344), "lwf-bsr": (0.775, 0.047)},
    ("ImageNet-100", 10, NOT_STATED): {"lwf": (0.765, 0.073), "lwf-bsr": (0.807, 0.013)},
    ("SVHN", 5, NOT_STATED): {"lwf": (0.701, 0.005), "lwf-bsr": (0.705, 0.002)},
}
RETHINKING_LEGEND_FINAL_TAG = {"lwf": 0.165, "lwf-bsr": 0.266}


def _totals(source: str, dataset: str, tasks: int, backbone: str,
            pairs: dict[str, tuple[float, float]]) -> list[PublishedNumber]:
    return [entry for metric, i in ((ACC, 0), (FORG, 1))
            for entry in _rows(RETHINKING, source, dataset, tasks, backbone, "task-il", metric, "taw",
                               {method: pair[i] for method, pair in pairs.items()})]


RETHINKING_NUMBERS: list[PublishedNumber] = [
    *_totals(f"read by eye from a plot in the released repository ({PLOT}), totals recomputed from the curves",
             "CIFAR-100", 10, "ResNet-32", RETHINKING_PLOT_READINGS),
    *[entry for (dataset, tasks, backbone), pairs in RETHINKING_APPENDIX_ROWS.items()
      for entry in _totals("appendix table A.2 (read from an image of it)", dataset, tasks, backbone, pairs)],
    *_rows(RETHINKING, f"legend of a plot in the released repository ({PLOT}), final stage", "CIFAR-100", 10,
           "ResNet-32", "task-il", FINAL, "tag", RETHINKING_LEGEND_FINAL_TAG),
]

PAPER_NAMES = {"lwf": "LwF", "lwm": "LwM", "lucir": "LUCIR"}
# The abstract: "in a 10-task incremental learning setting on CIFAR-100, our methods improve the average
# accuracy of three widely used approaches - LWF, LWM, and LUCIR - by 11.8 %, 11.5 %, and 12.8 %,
# respectively, while reducing their average forgetting rates by 16.5 %, 16.8 %, and 13.8 %".
PUBLISHED_CHANGES: list[PublishedChange] = [
    PublishedChange(RETHINKING, "paper abstract", "CIFAR-100", 10, baseline, quantity, change, percent)
    for quantity, change, by_method in (("average accuracy", "improve", {"lwf": 11.8, "lwm": 11.5, "lucir": 12.8}),
                                        ("average forgetting", "reduce", {"lwf": 16.5, "lwm": 16.8, "lucir": 13.8}))
    for baseline, percent in by_method.items()
]

# -- DLCFT (docs/PAPERS.md, section 3), every number read from the paper's text: final accuracy in
# percent, task-aware in task-IL and task-agnostic otherwise (labkit.experiment.metrics.natural_kind).
DLCFT_BACKBONE = "ResNet-18 pre-trained on ImageNet32"
MIT_BACKBONE = "ResNet-18 pre-trained on ImageNet-1k"
DLCFT_TABLES = [  # (source, dataset, tasks, backbone, scenario, metric, {row label: percent})
    ("paper text, Table 1", "Seq-CIFAR-100", 10, DLCFT_BACKBONE, "data-il", FINAL, {
        "finetune": 78.74, "lwf": 80.25, "ewc": 78.88, "mas": 75.24, "osla": 79.23, "dlcft": 81.95,
        "dlcft-tkfac": 82.70, "joint": 83.57}),
    ("paper text, Table 1", "Seq-CIFAR-100", 100, DLCFT_BACKBONE, "data-il", FINAL, {
        "finetune": 71.83, "lwf": 70.95, "ewc": 72.61, "mas": 52.50, "osla": 73.10, "dlcft": 75.92,
        "dlcft-tkfac": 80.07}),  # Joint's one CIFAR-100 cell, 83.57, stands under the 10-task column
    ("paper text, Table 1", "Seq-MIT-67", 4, MIT_BACKBONE, "data-il", FINAL, {
        "finetune": 63.48, "lwf": 67.21, "ewc": 63.68, "mas": 62.49, "osla": 64.08, "dlcft": 70.55,
        "dlcft-tkfac": 70.52, "joint": 74.40}),
    (SOURCE_TABLE_2, "Seq-CIFAR-100", 10, DLCFT_BACKBONE, "task-il", FINAL, {  # DLCFT there is TK-FAC
        "lwf": 92.16, "ewc": 77.44, "osla": 81.03, "dlcft-tkfac": 95.79, "er": 79.14, "der": 91.47, "derpp": 91.56}),
    (SOURCE_TABLE_2, "Seq-CIFAR-100", 10, DLCFT_BACKBONE, "class-il", FINAL, {  # buffer 500
        "er": 43.52, "der": 58.07, "derpp": 53.29, "dlcft-tkfac": 59.98}),
    # Table 3, the ablation: the non-linear softmax-CE network (labkit's osla) against the linearised MSE one
    ("paper text, Table 3", "Seq-CIFAR-100", 10, DLCFT_BACKBONE, "data-il", FINAL, {
        "osla": 79.23, "dlcft": 81.95, "osla-tkfac": 79.58, "dlcft-tkfac": 82.70}),
    ("paper text, Table 3", "Seq-CIFAR-100", 100, DLCFT_BACKBONE, "data-il", FINAL, {
        "osla": 73.51, "dlcft": 75.92, "osla-tkfac": 73.18, "dlcft-tkfac": 80.07}),
    ("paper text, Table 3", "Seq-CIFAR-100", 10, DLCFT_BACKBONE, "class-il", FINAL, {
        "osla": 44.93, "dlcft": 59.86, "osla-tkfac": 44.66, "dlcft-tkfac": 59.98}),
    # Table 6 (appendix E): backward transfer in task-IL, beside Table 2's accuracies
    ("paper text, Table 6 (appendix E)", "Seq-CIFAR-100", 10, DLCFT_BACKBONE, "task-il", BWT, {
        "lwf": 0.04, "ewc": -21.63, "osla": -18.21, "dlcft-tkfac": -0.58}),
]

DLCFT_NUMBERS: list[PublishedNumber] = [
    entry for source, dataset, tasks, backbone, scenario, metric, values in DLCFT_TABLES
    for entry in _rows(DLCFT, source, dataset, tasks, backbone, scenario, metric,
                       natural_kind(scenario), values, percent=True)
]

PUBLISHED: list[PublishedNumber] = RETHINKING_NUMBERS + DLCFT_NUMBERS

# preset -> (paper, scenario, tasks of the paper's protocol it is compared with, same protocol?)
PRESET_PROTOCOLS: dict[str, tuple[str, str, int, bool]] = {
    "rethinking-cifar100": (RETHINKING, "task-il", 10, True),
    "rethinking-fashion": (RETHINKING, "task-il", 10, False),
    "rethinking-digits": (RETHINKING, "task-il", 10, False),
    "lwm-digits": (RETHINKING, "task-il", 10, False),
    "dlcft-cifar100-data-il": (DLCFT, "data-il", 10, True),
    "dlcft-cifar100-data-il-100": (DLCFT, "data-il", 100, True),
    "dlcft-cifar100-task-il": (DLCFT, "task-il", 10, True),
    "dlcft-cifar100-class-il": (DLCFT, "class-il", 10, True),
    **{f"dlcft-{quick}-{scenario}": (DLCFT, scenario, 10, False)
       for quick in ("fashion", "digits") for scenario in ("data-il", "task-il", "class-il")},
}
PAPER_DATASETS = {RETHINKING: "CIFAR-100", DLCFT: "Seq-CIFAR-100"}


def paper_protocol(paper: str, scenario: str, tasks: int) -> list[PublishedNumber]:
    """Every number of `paper` on its main dataset (PAPER_DATASETS) in `scenario` with `tasks`
    tasks, in the order they are listed here (the main tables first)."""
    return [e for e in PUBLISHED
            if (e.paper, e.dataset, e.scenario, e.tasks) == (paper, PAPER_DATASETS[paper], scenario, tasks)]


def published_for(preset_name: str, method: str) -> list[PublishedNumber]:
    """The published numbers of `method` (labkit's name) on the protocol `preset_name` follows:
    the paper's numbers of that dataset (CIFAR-100), scenario and number of tasks, marked
    same_protocol=False when the preset is a quick version of it (other data, fewer tasks, a
    smaller network). [] for a preset that follows no paper's protocol and for a method that
    paper does not report there."""
    for name, value in (("preset_name", preset_name), ("method", method)):
        if not isinstance(value, str):
            raise ConfigError(name, value, "a name (str)")
    if preset_name not in PRESET_PROTOCOLS:
        return []
    paper, scenario, tasks, same = PRESET_PROTOCOLS[preset_name]
    return [dataclasses.replace(entry, same_protocol=same) for entry in paper_protocol(paper, scenario, tasks)
            if entry.method == method]


def paper_rows(paper: str, scenario: str, tasks: int, metric: str = FINAL) -> dict[str, PublishedNumber]:
    """Row label ('dlcft-tkfac') -> the paper's number of that row on its main dataset, the first
    source listed where two tables print it (Table 1 or 2 before Table 3's ablation)."""
    out: dict[str, PublishedNumber] = {}
    for entry in paper_protocol(paper, scenario, tasks):
        if entry.metric == metric:
            out.setdefault(entry.label, entry)
    return out


METRIC_NAMES = {"total_average_accuracy": "total average accuracy",
                "total_average_forgetting": "total average forgetting",
                "final_average_accuracy": "final accuracy",
                "backward_transfer": "backward transfer"}


def method_label(entry: PublishedNumber) -> str:
    """'dlcft (curvature=tkfac)', or the method's name alone."""
    params = ", ".join(f"{k}={v}" for k, v in entry.method_params.items())
    return f"{entry.method} ({params})" if params else entry.method


def metric_label(entry: PublishedNumber) -> str:
    """'TAw total average accuracy'."""
    return f"{KIND_ABBREVIATIONS[entry.kind]} {METRIC_NAMES[entry.metric]}"


def published_table(entries: list[PublishedNumber]) -> pd.DataFrame:
    """One row per entry: method (with its method_params), paper, source (where it was read),
    protocol (prefixed "the paper's: " when not this preset's), metric ("TAw total average
    accuracy") and value % (the fraction times 100). Empty entries -> an empty frame with those
    columns."""
    columns = ["method", "paper", "source", "protocol", "metric", "value %"]
    return pd.DataFrame([[method_label(e), e.paper, e.source, e.protocol, metric_label(e), round(100 * e.value, 2)]
                         for e in entries], columns=columns)


def changes_table(changes: list[PublishedChange] | None = None) -> pd.DataFrame:
    """The changes a paper states in words (default: PUBLISHED_CHANGES), one row each: baseline,
    what the paper says, its protocol, variant and accuracy kind (both "not stated"), source."""
    changes = PUBLISHED_CHANGES if changes is None else changes
    return pd.DataFrame([{"baseline": c.baseline, "the paper says the remedies": c.statement,
                          "protocol": f"{c.dataset}, {c.tasks} tasks", "variant": c.variant, "TAw or TAg": c.kind,
                          "paper": c.paper, "source": c.source} for c in changes])


def beside_run(entries: list[PublishedNumber], result: RunResult) -> pd.DataFrame:
    """The published numbers next to the same metric of `result` (percent; None before the run has
    the tasks the metric needs), labelled as the paper's, with its source and protocol."""
    rows = []
    for e in entries:
        ours = result.summary(e.kind)[e.metric] if result.tasks_done else None
        rows.append({"metric": metric_label(e), "method": method_label(e),
                     "the paper's %": round(100 * e.value, 2),
                     "this run's %": None if ours is None else round(100 * ours, 1),
                     "paper": e.paper, "source": e.source, "paper's protocol": e.protocol})
    return pd.DataFrame(rows)


def markdown_table() -> str:
    """Every published number and stated change as the Markdown table docs/PAPERS.md carries
    (tests/teaching/test_published.py checks that the document holds exactly this text)."""
    lines = ["| paper | source | protocol | scenario | metric | method | value |", "|---|---|---|---|---|---|---|"]
    for e in PUBLISHED:
        lines.append(f"| {e.paper} | {e.source} | {e.protocol} | {e.scenario} | {metric_label(e)} | "
                     f"{method_label(e)} | {100 * e.value:.2f} |")
    for c in PUBLISHED_CHANGES:
        lines.append(f"| {c.paper} | {c.source} | {c.dataset}, {c.tasks} tasks | {NOT_STATED} | "
                     f"{c.quantity} (TAw or TAg: {c.kind}) | {c.baseline} (variant: {c.variant}) | "
                     f"{c.change} by {c.percent} % (points or relative: {NOT_STATED}) |")
    return "\n".join(lines)


def table_numbers(source: str) -> list[int]:
    """The table numbers a source names: 'paper text, Table 3' -> [3]."""
    return [int(n) for n in re.findall(r"Table (\d+)", source)]
