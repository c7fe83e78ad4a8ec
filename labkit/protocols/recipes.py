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

How each entry was chosen (the tables' comments): on digits, 5 tasks of 2 classes, 5 epochs, batch
32, fine-tuning, the recipe is a setting under which every task is learned right after it is
trained (the task-aware accuracy matrix's diagonal well above chance), where RunConfig's SGD is
not. tests/protocols/test_defaults_learn.py checks that every loss and backbone learns each task
from here; docs/METHODS.md, section 15, says why a loss needs its own optimiser.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from labkit.config import RunConfig
from labkit.methods import METHODS

OPTIMISER_FIELDS = ("optimizer", "lr", "momentum")

# Chosen with the mlp. ce, sparsemax, entmax15 and ova_bce learn every task from RunConfig's defaults
# (tests/protocols/test_defaults_learn.py), so they have no entry.
LOSS_RECIPES: dict[str, dict[str, Any]] = {
    # its gradient 2 (z - 15 e_y) / K is about 30 / K times softmax CE's at the start: SGD at CE's rate
    # diverges, and a tenth of that rate still leaves a task unlearned. Adam's steps do not see that
    # scale; at smaller Adam rates the outputs climb to 15 too slowly for class-IL's tasks.
    "mse": {"optimizer": "adam", "lr": 1e-2},
    # d/dz log(z^2 + 0.01) reaches 1 / sqrt(0.01) = 10 near z = 0, ten times softmax CE's largest:
    # SGD at CE's rate leaves tasks at chance. Adam 3e-3 learns them, judged by the loss's own
    # prediction argmax (z^2 + 0.01), where a smaller rate learns class-IL's tasks less well and a
    # larger one leaves them at chance.
    "spherical": {"optimizer": "adam", "lr": 3e-3},
    # SGD at CE's rate leaves tasks at chance (a task's loss stalls at log 2: both classes at 1/2).
    # Adam 1e-2 learns them, judged by argmax (1 + z + z^2 / 2), class-IL's better than smaller Adam
    # rates or a smaller SGD rate.
    "taylor": {"optimizer": "adam", "lr": 1e-2},
}

# Chosen with softmax CE; the -leaky twins take their ReLU version's recipe. The mlp learns every
# task from RunConfig's defaults, so it has no entry (both: tests/protocols/test_defaults_learn.py).
_CONV_ADAM = {"optimizer": "adam", "lr": 1e-3}
BACKBONE_RECIPES: dict[str, dict[str, Any]] = {
    # batch-normed since it could not learn without (SmallCNN). SGD at RunConfig's rate and momentum
    # learns the first task poorly and leaves a class-IL task at chance; Adam 1e-3 learns every task.
    "cnn": _CONV_ADAM,
    # SGD at RunConfig's rate, and at a fifth of it, leaves tasks learned poorly; Adam 1e-3 learns
    # every task, with mse too (better than mse's own Adam 1e-2 here, which the backbone's recipe wins over).
    "resnet32": _CONV_ADAM,
    # (8x8 inputs keep a 2x2 map, see ResNet) SGD at RunConfig's rate leaves tasks at chance; Adam 1e-3
    # leaves resnet18-leaky's last class-IL task behind; Adam 3e-4 learns every task of both. It has
    # 24 times ResNet-32's parameters: a smaller step.
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
