"""Named method comparisons: one scenario, several methods each trained its own way (kept here as
data, not in code), run over seeds into one table (DLCFT's Tables 1-3).

The DLCFT paper trains non-linear networks with softmax CE and SGD (lr 1e-3, momentum 0.9) and
linearised ones with MSE and Adam (lr 1e-4), all from the same pre-trained backbone; the quick
CPU versions keep that split with rates raised for their few epochs (SGD 0.01, Adam 1e-3).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from labkit.config import RunConfig
from labkit.protocols.presets import PRESETS
from labkit.registry import Registry


@dataclass(frozen=True)
class Comparison:
    """rows: label -> RunConfig fields (and method_params) that differ from `base` for that row."""

    base: RunConfig
    rows: dict[str, dict] = field(default_factory=dict)

    def configs(self, **changes) -> dict[str, RunConfig]:
        """label -> the row's config, with `changes` (e.g. epochs=1) applied to every row."""
        return {label: self.base.replace(**{**row, **changes}) for label, row in self.rows.items()}


COMPARISONS: Registry[Comparison] = Registry("comparison")

NONLINEAR_QUICK = dict(loss="ce", optimizer="sgd", lr=0.01, momentum=0.9)
LINEAR_QUICK = dict(loss="mse", optimizer="adam", lr=1e-3)
NONLINEAR_PAPER = dict(loss="ce", optimizer="sgd", lr=1e-3, momentum=0.9)
LINEAR_PAPER = dict(loss="mse", optimizer="adam", lr=1e-4)
TKFAC = {"method_params": {"curvature": "tkfac"}}
# which methods the paper compares in each scenario (Tables 1 and 2), plus joint training.
# Head arrangement: every row uses labkit's per-task heads (RunConfig.head_layout "per-task"),
# the arrangement DLCFT's class-IL itself has (new output units added per task, started at
# zero; docs/PAPERS.md, section 3), so each baseline is compared with DLCFT on the same network.
# The paper's ER / DER / DER++ numbers come from Mammoth, whose one head covers every class from
# the start: `--head-layout all-classes` runs them that way (notebook 05 does, beside the paper's
# class-IL column: labkit.teaching.dlcft_comparison.beside_paper). The two layouts side by side, with
# the sweep that measures them: docs/BENCHMARKS.md, "Head layouts of ER, DER and DER++".
SCENARIO_METHODS = {
    "data-il": ("finetune", "lwf", "ewc", "mas", "osla", "er", "der", "derpp", "dlcft", "dlcft-tkfac", "joint"),
    "task-il": ("finetune", "lwf", "ewc", "osla", "er", "der", "dlcft", "dlcft-tkfac", "joint"),
    "class-il": ("finetune", "er", "der", "derpp", "osla", "dlcft", "dlcft-tkfac", "joint"),
}


def dlcft_rows(methods: tuple[str, ...], nonlinear: dict, linear: dict) -> dict[str, dict]:
    rows = {}
    for label in methods:
        method = label.split("-")[0]
        recipe = linear if method == "dlcft" else nonlinear
        rows[label] = {"method": method, **recipe, **(TKFAC if label.endswith("tkfac") else {})}
    return rows


for scenario, methods in SCENARIO_METHODS.items():
    for preset, label, recipes in ((f"dlcft-fashion-{scenario}", "CPU, quick", (NONLINEAR_QUICK, LINEAR_QUICK)),
                                   (f"dlcft-digits-{scenario}", "CPU, seconds", (NONLINEAR_QUICK, LINEAR_QUICK)),
                                   (f"dlcft-cifar100-{scenario}", "GPU, the paper's protocol", (NONLINEAR_PAPER, LINEAR_PAPER))):
        COMPARISONS.register(preset, f"DLCFT's {scenario} comparison ({label}): {', '.join(methods)}")(
            Comparison(PRESETS.get(preset), dlcft_rows(methods, *recipes)))
