"""The papers' published numbers (../shared/METHODS.md, sections 1 and 3) as data, and which of
them a preset can be compared with.

Each PublishedNumber says where it was published (paper; table: the label METHODS.md gives it),
on which protocol (dataset, tasks, backbone, scenario), which of labkit's summary metrics it is
(RunResult.summary(kind)[metric], labkit.metrics.summarize):

    total_average_accuracy   mean of acc[t, u] over u <= t       (Rethinking's "total")
    total_average_forgetting mean of f[t, u] over u < t
    final_average_accuracy   1/T sum_u acc[T, u]                 (DLCFT's "final accuracy",
                                                                  Rethinking's "final-stage")

with kind "taw" or "tag", the method as labkit names it (with method_params where the paper's
variant is a parameter: DLCFT's curvature) and the value as a fraction.

Readings this file makes (METHODS.md does not say them): the appendix table's kind is TAw (the
paper's headline numbers are TAw totals); "BSR" in the final-stage TAg line is LwF-BSR; DLCFT's
task-IL and class-IL "DLCFT" is TK-FAC (the paper's Table 2 caption); its "DLCFT 75.92 / 80.07" at
100 tasks is K-FAC / TK-FAC, in the order of the 10-task line. Backbones METHODS.md does not state
for a dataset are written "not stated".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from labkit.registry import ConfigError
from labkit.result import RunResult

RETHINKING = "Rethinking softmax (Zhai et al. 2026)"
DLCFT = "DLCFT (Shon et al. 2022)"
NOT_STATED = "not stated"


@dataclass(frozen=True)
class PublishedNumber:
    paper: str
    table: str
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


def _rows(table: str, paper: str, dataset: str, tasks: int, backbone: str, scenario: str, metric: str,
          kind: str, values: dict[str, float], params: dict[str, dict] | None = None) -> list[PublishedNumber]:
    """One PublishedNumber per method in `values`; params[method]: that method's method_params."""
    return [PublishedNumber(paper, table, dataset, tasks, backbone, scenario, metric, kind, method, value,
                            dict((params or {}).get(method, {})))
            for method, value in values.items()]


# -- Rethinking softmax, METHODS.md section 1 (FACIL protocol: task-IL heads, evaluated both ways)
RETHINKING_HEADLINE = "Published (TAw totals, CIFAR-100 10 tasks)"
RETHINKING_TAW_TOTALS = {  # method: (total average accuracy, total average forgetting)
    "lwf": (0.613, 0.197), "lwf-s": (0.705, 0.066), "lwf-sr": (0.720, 0.043),
    "lwf-br": (0.697, 0.072), "lwf-br2": (0.662, 0.153), "lwf-bsr": (0.731, 0.032),
}
RETHINKING_APPENDIX = "Appendix table (total avg acc / forgetting, LwF vs LwF-BSR)"
RETHINKING_APPENDIX_ROWS = {  # (dataset, tasks, backbone): {method: (accuracy, forgetting)}
    ("CIFAR-100", 5, "ResNet-32"): {"lwf": (0.654, 0.114), "lwf-bsr": (0.700, 0.031)},
    ("CIFAR-100", 20, "ResNet-32"): {"lwf": (0.524, 0.344), "lwf-bsr": (0.775, 0.047)},
    ("ImageNet-100", 10, NOT_STATED): {"lwf": (0.765, 0.073), "lwf-bsr": (0.807, 0.013)},
    ("SVHN", 5, NOT_STATED): {"lwf": (0.701, 0.005), "lwf-bsr": (0.705, 0.002)},
}
RETHINKING_FINAL_TAG = "Final-stage TAg accuracy, 10 tasks"
RETHINKING_FINAL_TAG_VALUES = {"lwf": 0.165, "lwf-bsr": 0.266}


def _totals(table: str, dataset: str, tasks: int, backbone: str,
            pairs: dict[str, tuple[float, float]]) -> list[PublishedNumber]:
    return [entry for metric, i in (("total_average_accuracy", 0), ("total_average_forgetting", 1))
            for entry in _rows(table, RETHINKING, dataset, tasks, backbone, "task-il", metric, "taw",
                               {method: pair[i] for method, pair in pairs.items()})]


RETHINKING_NUMBERS: list[PublishedNumber] = [
    *_totals(RETHINKING_HEADLINE, "CIFAR-100", 10, "ResNet-32", RETHINKING_TAW_TOTALS),
    *[entry for (dataset, tasks, backbone), pairs in RETHINKING_APPENDIX_ROWS.items()
      for entry in _totals(RETHINKING_APPENDIX, dataset, tasks, backbone, pairs)],
    *_rows(RETHINKING_FINAL_TAG, RETHINKING, "CIFAR-100", 10, "ResNet-32", "task-il", "final_average_accuracy",
           "tag", RETHINKING_FINAL_TAG_VALUES),
]

# -- DLCFT, METHODS.md section 3: Seq-CIFAR-100, ResNet-18 (LeakyReLU, batch norm folded) pre-trained
# on ImageNet32; final accuracy, task-aware in task-IL, task-agnostic otherwise (labkit.runner.natural_kind)
DLCFT_BACKBONE = "ResNet-18 pre-trained on ImageNet32"
KFAC, TKFAC = {"curvature": "kfac"}, {"curvature": "tkfac"}
DLCFT_FINAL = {  # (scenario, tasks, METHODS.md's label): {method: final accuracy}, "dlcft" is K-FAC
    ("data-il", 10, "Published (Seq-CIFAR-100, final accuracy): data-IL 10 tasks"): {
        "finetune": 0.7874, "lwf": 0.8025, "ewc": 0.7888, "mas": 0.7524, "osla": 0.7923, "dlcft": 0.8195,
        "joint": 0.8357},
    ("data-il", 100, "Published (Seq-CIFAR-100, final accuracy): data-IL 100 tasks"): {
        "finetune": 0.7183, "ewc": 0.7261, "mas": 0.5250, "osla": 0.7310, "dlcft": 0.7592},
    ("task-il", 10, "Published (Seq-CIFAR-100, final accuracy): task-IL 10 tasks"): {
        "lwf": 0.9216, "ewc": 0.7744, "osla": 0.8103},
    ("class-il", 10, "Published (Seq-CIFAR-100, final accuracy): class-IL (buffer 500)"): {
        "er": 0.4352, "der": 0.5807, "derpp": 0.5329},
    ("data-il", 10, "Ablation (Table 3), K-FAC: non-linear + SCE vs linear + MSE"): {"osla": 0.7923, "dlcft": 0.8195},
    ("class-il", 10, "Ablation (Table 3), K-FAC: non-linear + SCE vs linear + MSE"): {"osla": 0.4493, "dlcft": 0.5986},
}
DLCFT_TKFAC = {  # the same labels: DLCFT with TK-FAC curvature
    ("data-il", 10, "Published (Seq-CIFAR-100, final accuracy): data-IL 10 tasks"): 0.8270,
    ("data-il", 100, "Published (Seq-CIFAR-100, final accuracy): data-IL 100 tasks"): 0.8007,
    ("task-il", 10, "Published (Seq-CIFAR-100, final accuracy): task-IL 10 tasks"): 0.9579,
    ("class-il", 10, "Published (Seq-CIFAR-100, final accuracy): class-IL (buffer 500)"): 0.5998,
}


def _dlcft(scenario: str, tasks: int, table: str, values: dict[str, float], params: dict) -> list[PublishedNumber]:
    kind = "taw" if scenario == "task-il" else "tag"
    return _rows(table, DLCFT, "Seq-CIFAR-100", tasks, DLCFT_BACKBONE, scenario, "final_average_accuracy", kind,
                 values, {"dlcft": params})


DLCFT_NUMBERS: list[PublishedNumber] = [
    *[entry for (scenario, tasks, table), values in DLCFT_FINAL.items()
      for entry in _dlcft(scenario, tasks, table, values, KFAC)],
    *[entry for (scenario, tasks, table), value in DLCFT_TKFAC.items()
      for entry in _dlcft(scenario, tasks, table, {"dlcft": value}, TKFAC)],
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
    return [dataclasses.replace(entry, same_protocol=same) for entry in PUBLISHED
            if (entry.paper, entry.dataset, entry.scenario, entry.tasks, entry.method)
            == (paper, PAPER_DATASETS[paper], scenario, tasks, method)]


METRIC_NAMES = {"total_average_accuracy": "total average accuracy",
                "total_average_forgetting": "total average forgetting",
                "final_average_accuracy": "final accuracy"}
KIND_NAMES = {"taw": "TAw", "tag": "TAg"}


def method_label(entry: PublishedNumber) -> str:
    """'dlcft (curvature=tkfac)', or the method's name alone."""
    params = ", ".join(f"{k}={v}" for k, v in entry.method_params.items())
    return f"{entry.method} ({params})" if params else entry.method


def published_table(entries: list[PublishedNumber]) -> pd.DataFrame:
    """One row per entry: method (with its method_params), paper, table, protocol (prefixed
    "the paper's: " when not this preset's), metric ("TAw total average accuracy") and value %
    (the fraction times 100). Empty entries -> an empty frame with those columns."""
    columns = ["method", "paper", "table", "protocol", "metric", "value %"]
    return pd.DataFrame([[method_label(e), e.paper, e.table, e.protocol,
                          f"{KIND_NAMES[e.kind]} {METRIC_NAMES[e.metric]}", round(100 * e.value, 2)]
                         for e in entries], columns=columns)


def beside_run(entries: list[PublishedNumber], result: RunResult) -> pd.DataFrame:
    """The published numbers next to the same metric of `result` (percent; None before the run has
    the tasks the metric needs), labelled as the paper's, with its table and protocol."""
    rows = []
    for e in entries:
        ours = result.summary(e.kind)[e.metric] if result.tasks_done else None
        rows.append({"metric": f"{KIND_NAMES[e.kind]} {METRIC_NAMES[e.metric]}", "method": method_label(e),
                     "the paper's %": round(100 * e.value, 1),
                     "this run's %": None if ours is None else round(100 * ours, 1),
                     "paper, table": f"{e.paper}, {e.table}", "paper's protocol": e.protocol})
    return pd.DataFrame(rows)
