"""Where a run's training settings start when the user has not chosen them.

`training_defaults(method, loss, backbone)`: the method's recipe (Method.recipe: DLCFT's Adam on
a pre-trained backbone) wins, then the backbone's, then the loss's, over RunConfig's defaults.
`fill_from_recipes(base, given)` is the one place that fills them: the command line (the fields
no flag or --config file set), the app (its widgets' starting values) and any Python caller who
asks; the Python API's RunConfig() keeps its plain defaults (SGD 0.05, momentum 0.9), which the
checked CPU reference pins. A method's recipe may name the loss it is meant to train with
(DLCFT's MSE); that loss, unless given, is chosen first and its own recipe then applies.

The optimiser is one choice: the first of method, backbone and loss that names any of optimizer,
lr and momentum decides all three (those it leaves out are RunConfig's), because a step size
means something only with its optimiser: OSLA's SGD rate 0.01 is not a rate for the cnn's Adam.

Where the numbers come from (the tables' comments): digits, 5 tasks of 2 classes, 5 epochs,
batch 32, fine-tuning, seeds 0-4 unless said. "min" is the lowest task-aware accuracy of a task
right after it was learned (the accuracy matrix's diagonal; chance 0.5) over the tasks and seeds,
class-IL / task-IL. tests/protocols/test_defaults_learn.py checks every loss and backbone from here.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from labkit.config import RunConfig
from labkit.methods import METHODS

OPTIMISER_FIELDS = ("optimizer", "lr", "momentum")

# Measured with the mlp. ce, sparsemax, entmax15 and ova_bce learn from RunConfig's defaults (seed
# 0: min >= 0.944; seeds 0-4 class-IL: 0.781 / 0.958 / 0.822 / 0.873, the spread of softmax CE's
# own, which the defaults keep), so they have no entry.
LOSS_RECIPES: dict[str, dict[str, Any]] = {
    # its gradient 2 (z - 15 e_y) / K is about 30 / K times softmax CE's at the start: SGD 0.05 with
    # momentum 0.9 diverges (seed 0: epoch losses up to 6e3, every task at 0.5), SGD 0.005 still
    # leaves the last task at 0.507. Adam does not see that scale: Adam 1e-2: min 0.958 / 0.959
    # (class-IL 1e-3: 0.859, seeds 0-2, and 5e-3: 0.901: the outputs climb to 15 too slowly).
    "mse": {"optimizer": "adam", "lr": 1e-2},
    # d/dz log(z^2 + 0.01) reaches 1 / sqrt(0.01) = 10 near z = 0, ten times softmax CE's largest:
    # SGD 0.05 leaves tasks at 0.49-0.5. Adam 3e-3: min 0.930 / 0.944, judged by the loss's own
    # prediction argmax (z^2 + 0.01) (1e-3: 0.887 / 0.972; 1e-2: 0.507 class-IL).
    "spherical": {"optimizer": "adam", "lr": 3e-3},
    # SGD 0.05 leaves tasks at 0.507 (seed 0's last task ends at loss log 2: p = 1/2). Adam 1e-2:
    # min 0.915 / 0.944, judged by argmax (1 + z + z^2 / 2) (1e-3: 0.901 / 0.944; 3e-3: 0.859 / 0.959;
    # SGD 0.02: 0.845 / 0.932).
    "taylor": {"optimizer": "adam", "lr": 1e-2},
}

# Measured with softmax CE; the -leaky twins train like their ReLU versions (the same recipe,
# measured for cnn-leaky and resnet32-leaky). The mlp learns from RunConfig's defaults (seed 0:
# min 0.944 / 0.944), so it has no entry.
_CONV_ADAM = {"optimizer": "adam", "lr": 1e-3}
BACKBONE_RECIPES: dict[str, dict[str, Any]] = {
    # batch-normed since it could not learn without (SmallCNN). SGD 0.05 with momentum 0.9: a first
    # task at 0.667 (seeds 0-2), a class-IL task at 0.493; Adam 1e-3: min 0.986 / 0.986 (seeds 0-2;
    # cnn-leaky the same), and with it mse 0.986 / 0.972, taylor 0.986 / 0.986, spherical 0.944 / 0.944.
    "cnn": _CONV_ADAM,
    # SGD 0.05: min 0.658 / 0.822 (seeds 0-2); SGD 0.01: 0.873 / 0.817; Adam 1e-3: 0.958 / 0.958
    # (seed 0: resnet32-leaky 0.959 / 0.972; with mse class-IL 0.972, where mse's Adam 1e-2 gives 0.887).
    "resnet32": _CONV_ADAM,
    # (8x8 inputs keep a 2x2 map, see ResNet) SGD 0.05: min 0.507 / 0.603 (seeds 0-1); Adam 1e-3:
    # 1.0 / 0.972, but resnet18-leaky's last class-IL task 0.873 (seed 0); Adam 3e-4: 0.972 / 0.972
    # (seeds 0-1), resnet18-leaky 0.986 / 0.972 (seed 0). 24 times ResNet-32's parameters: a smaller step.
    "resnet18": {"optimizer": "adam", "lr": 3e-4},
}
BACKBONE_RECIPES |= {f"{name}-leaky": recipe for name, recipe in BACKBONE_RECIPES.items()}


def recipe_sources(method: str, loss: str, backbone: str) -> dict[str, tuple[Any, str]]:
    """field -> (value, whose recipe: "method dlcft" / "backbone cnn" / "loss mse") for a run of
    `method` with `loss` on `backbone`: the method's recipe over the backbone's over the loss's;
    a recipe that names any optimiser field sets all three (those it leaves out RunConfig's).
    The loss itself is not among them: it is chosen before (see fill_from_recipes)."""
    plain = RunConfig()
    chosen: dict[str, tuple[Any, str]] = {}
    for whose, recipe in ((f"loss {loss}", _recipe(LOSS_RECIPES, loss)),
                          (f"backbone {backbone}", _recipe(BACKBONE_RECIPES, backbone)),
                          (f"method {method}", METHODS.get(method).recipe)):
        if any(name in recipe for name in OPTIMISER_FIELDS):
            chosen |= {name: (getattr(plain, name), whose) for name in OPTIMISER_FIELDS}
        chosen |= {name: (value, whose) for name, value in recipe.items() if name != "loss"}
    return chosen


def _recipe(table: dict[str, dict[str, Any]], name: object) -> dict[str, Any]:
    return table.get(name, {}) if isinstance(name, str) else {}  # a bad name is refused by validate()


def training_defaults(method: str, loss: str, backbone: str) -> dict[str, Any]:
    """The RunConfig fields a run of `method` with `loss` on `backbone` starts from when the user
    has not set them (recipe_sources without the sources). Empty: RunConfig's defaults are right."""
    return {name: value for name, (value, _) in recipe_sources(method, loss, backbone).items()}


def fill_from_recipes(base: RunConfig, given: Mapping[str, Any] | None = None
                      ) -> tuple[RunConfig, dict[str, tuple[Any, str]]]:
    """`base` (a preset, or RunConfig()) with the user's `given` fields, and the recipes in the
    fields neither sets; with which values came from a recipe: field -> (value, whose recipe).

    A field is unset when it is not given and `base` leaves it at RunConfig's default. First the
    loss: the method's recipe's, when it names one and the loss is unset; then recipe_sources of
    the method, that loss and the backbone fill the unset fields. An optimiser `base` sets (any of
    optimizer, lr, momentum changed, as a preset's protocol does) is kept whole; one given
    field of it (--lr) leaves the other two to the recipe."""
    given = dict(given or {})
    chosen = RunConfig.from_dict({**base.to_dict(), **given})  # an unknown field: ConfigError
    unset = _unset_fields(base, given)
    sources: dict[str, tuple[Any, str]] = {}
    method_loss = METHODS.get(chosen.method).recipe.get("loss")
    if method_loss is not None and "loss" in unset:
        sources["loss"] = (method_loss, f"method {chosen.method}")
    loss = sources["loss"][0] if "loss" in sources else chosen.loss
    sources |= {name: source for name, source in recipe_sources(chosen.method, loss, chosen.backbone).items()
                if name in unset}
    return chosen.replace(**{name: value for name, (value, _) in sources.items()}), sources


def _unset_fields(base: RunConfig, given: Mapping[str, Any]) -> set[str]:
    plain = RunConfig()
    unset = {f.name for f in dataclasses.fields(RunConfig)
             if f.name not in given and getattr(base, f.name) == getattr(plain, f.name)}
    if any(getattr(base, name) != getattr(plain, name) for name in OPTIMISER_FIELDS):
        unset -= set(OPTIMISER_FIELDS)
    return unset


def sources_text(sources: dict[str, tuple[Any, str]]) -> str:
    """The filled values, each group followed by whose recipe it is: the loss, then the optimiser's
    fields together, then every other field alone, e.g. "loss=mse (method dlcft), optimizer=adam,
    lr=0.001, momentum=0.9 (method dlcft), pretrained=auto (method dlcft)"."""
    others = [f.name for f in dataclasses.fields(RunConfig) if f.name not in ("loss", *OPTIMISER_FIELDS)]
    groups = [["loss"], list(OPTIMISER_FIELDS)] + [[name] for name in others]
    parts = []
    for group in groups:
        present = [name for name in group if name in sources]
        if present:
            values = ", ".join(f"{name}={sources[name][0]}" for name in present)
            parts.append(f"{values} ({sources[present[0]][1]})")
    return ", ".join(parts)
