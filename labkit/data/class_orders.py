"""Which class comes first: the order a class-incremental scenario cuts into tasks.

    "seeded"   labkit's own: np.random.default_rng(seed).permutation(num_classes), drawn from the
               scenario's generator (the order every run before this option had)
    "facil"    FACIL's (the framework "Rethinking softmax" released its code on):
               np.random.seed(seed); order = list(range(num_classes)); np.random.shuffle(order),
               so a labkit run and a released-code run of the same seed see the same tasks
    "2,0,1,…"  an explicit order: every class id of the dataset exactly once
"""
from __future__ import annotations

import numpy as np

from labkit.errors import ConfigError

NAMED = ("seeded", "facil")


def facil_order(num_classes: int, seed: int) -> list[int]:
    """FACIL's class order for `seed`: np.random.shuffle of 0..num_classes-1 right after
    np.random.seed(seed) (a RandomState seeded so draws the same numbers, without touching
    numpy's global state)."""
    order = list(range(num_classes))
    np.random.RandomState(seed).shuffle(order)
    return order


def explicit_order(text: object, num_classes: int | None = None) -> list[int]:
    """'2,0,1' -> [2, 0, 1], refused (ConfigError on class_order) unless it is whole numbers,
    each once, and (given num_classes) exactly the classes 0..num_classes-1."""
    valid = ("'seeded', 'facil', or every class id once, comma-separated"
             + (f" (a permutation of 0..{num_classes - 1})" if num_classes else ""))
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else None
    if not items or not all(t.isascii() and t.isdigit() for t in items):  # not '²': int() refuses it
        raise ConfigError("class_order", text, valid)
    order = [int(t) for t in items]
    if len(set(order)) < len(order) or (num_classes is not None and sorted(order) != list(range(num_classes))):
        raise ConfigError("class_order", text, valid)
    return order


def check_class_order(value: object, num_classes: int | None = None) -> None:
    """ConfigError unless `value` is one of NAMED or an explicit order of num_classes classes."""
    if value not in NAMED:
        explicit_order(value, num_classes)


def class_order(value: str, num_classes: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    """The order `value` names, as an array; "seeded" draws it from `rng` (the scenario's)."""
    if value == "seeded":
        return rng.permutation(num_classes)
    if value == "facil":
        return np.asarray(facil_order(num_classes, seed))
    return np.asarray(explicit_order(value, num_classes))
