"""Scenarios: how a dataset is cut into a sequence of tasks.

A scenario entry computes a Partition (class order, each task's classes and the indices of
its train and test samples); make_scenario turns it into Tasks with incremental labels and an
optional validation split.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Callable

import numpy as np
import torch

from labkit.data import class_orders as orders
from labkit.data.class_orders import check_class_order
from labkit.data.types import ArrayDataset, Scenario, Task
from labkit.errors import ConfigError
from labkit.registry import Registry


@dataclass(frozen=True)
class Partition:
    """class_order[i] = original label of incremental label i; per task, its classes as
    incremental labels and the dataset indices of its train and test samples."""

    class_order: list[int]
    classes: list[list[int]]
    train_indices: list[np.ndarray]
    test_indices: list[np.ndarray]


# (dataset, num_tasks, rng, order): order is the class order to cut into tasks, or None for the
# scenario's own (class-IL / task-IL: drawn from rng; data-IL: the dataset's labels as they are)
Split = Callable[[ArrayDataset, int, np.random.Generator, "np.ndarray | None"], Partition]

SCENARIOS: Registry[Split] = Registry("scenario")

# Scenarios whose tasks hold disjoint groups of classes (so at most one task per class).
CLASS_SPLITS = ("class-il", "task-il")


def class_groups(dataset: ArrayDataset, num_tasks: int, rng: np.random.Generator,
                 order: np.ndarray | None = None) -> Partition:
    """Shuffle the classes with `rng` (or take the given order), cut that order into num_tasks
    contiguous groups (np.array_split: sizes differ by at most one, larger groups first), and
    give each task the train and test samples of its group."""
    order = rng.permutation(dataset.num_classes) if order is None else np.asarray(order)
    incremental = _inverse(order)
    groups = np.array_split(np.arange(dataset.num_classes), num_tasks)
    train_y, test_y = incremental[dataset.train_y.numpy()], incremental[dataset.test_y.numpy()]
    return Partition(order.tolist(), [group.tolist() for group in groups],
                     [np.flatnonzero(np.isin(train_y, group)) for group in groups],
                     [np.flatnonzero(np.isin(test_y, group)) for group in groups])


def sample_subsets(dataset: ArrayDataset, num_tasks: int, rng: np.random.Generator,
                   order: np.ndarray | None = None) -> Partition:
    """Every task holds all classes (in the original label order, or relabelled by the given
    order); the train samples and, so that each task has its own test data for the accuracy
    matrix, the test samples are each cut into num_tasks disjoint subsets that together are
    the whole set."""
    all_classes = list(range(dataset.num_classes))
    return Partition(all_classes if order is None else [int(c) for c in order], [all_classes] * num_tasks,
                     _deal(dataset.train_y.numpy(), num_tasks, rng),
                     _deal(dataset.test_y.numpy(), num_tasks, rng))


SCENARIOS.register("class-il", "disjoint class groups per task; at test time the task is "
                               "unknown: predict among all classes seen so far")(class_groups)
SCENARIOS.register("task-il", "the same class groups as class-IL; at test time the task is "
                              "given: predict among that task's classes only")(class_groups)
SCENARIOS.register("data-il", "all classes in every task, samples split into disjoint subsets; "
                              "at test time one prediction among all classes")(sample_subsets)


def _inverse(order: np.ndarray) -> np.ndarray:
    """The permutation that maps order[i] back to i."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse


def _deal(labels: np.ndarray, num_tasks: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle the sample indices, sort them by class, and deal them to the tasks in turn:
    disjoint subsets whose sizes, overall and per class, differ by at most one."""
    shuffled = rng.permutation(len(labels))
    by_class = shuffled[np.argsort(labels[shuffled], kind="stable")]
    turn = np.arange(len(labels)) % num_tasks
    return [np.sort(by_class[turn == task]) for task in range(num_tasks)]


def check_tasks(kind: str, num_tasks: int, num_classes: int, *, num_samples: int | None = None,
                dataset: str = "this dataset") -> None:
    """Raise ConfigError unless `kind` is a registered scenario and num_tasks tasks fit it:
    class-IL and task-IL need a class per task; other kinds a sample per task (checked when
    num_samples is given). Loads nothing, so a config can be checked before any data."""
    SCENARIOS.get(kind)
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, Integral) or num_tasks < 1:
        raise ConfigError("tasks", num_tasks, "a whole number of tasks, at least 1")
    limit, unit = (num_classes, "class") if kind in CLASS_SPLITS else (num_samples, "sample")
    if limit is not None and num_tasks > limit:
        raise ConfigError("tasks", num_tasks, f"at most {limit} for {dataset} with {kind}: "
                                              f"each task needs at least one {unit}")


def _check_val_fraction(val_fraction: float) -> None:
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, Real) or not 0 <= val_fraction < 1:
        raise ConfigError("val_fraction", val_fraction, "a fraction in [0, 1)")


VAL_SPLITS = ("random", "stratified")


def _validation_mask(train_y: torch.Tensor, val_fraction: float, split: str, rng: np.random.Generator) -> np.ndarray:
    """Which train samples go to validation. "random": round(val_fraction * n) of the task's n
    samples, drawn at random (leaving at least one to train on); "stratified" (FACIL's): of
    each class c with n_c samples, round(val_fraction * n_c), so every class is held out in
    the same proportion (a fraction that would hold out a whole class is refused first:
    check_stratified)."""
    count = len(train_y)
    is_val = np.zeros(count, dtype=bool)
    if split == "random":
        is_val[rng.choice(count, min(round(val_fraction * count), max(count - 1, 0)), replace=False)] = True
        return is_val
    labels = train_y.numpy()
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        is_val[rng.choice(members, int(np.round(val_fraction * len(members))), replace=False)] = True
    return is_val


def check_stratified(val_fraction: float, task_labels: list[torch.Tensor], class_order: list[int]) -> None:
    """Refuse (ConfigError on val_fraction) a stratified split that would hold out every training
    image of a class of a task, round(val_fraction * n_c) = n_c, leaving it nothing to train on
    (0.999 does so for any class of at most 500 images). Every fraction below 1 - 0.5 / n_min,
    n_min the fewest training images of a class in a task, keeps one of each."""
    counts = [(t, int(c), int(n)) for t, y in enumerate(task_labels)
              for c, n in zip(*np.unique(y.numpy(), return_counts=True))]
    emptied = [(t, c, n) for t, c, n in counts if np.round(val_fraction * n) >= n]
    if emptied:
        t, c, n = emptied[0]
        fewest = min(n for _, _, n in counts)
        raise ConfigError("val_fraction", val_fraction, f"a fraction below {1 - 0.5 / fewest:.4g} with val_split "
                          f"'stratified' here: it holds out round(val_fraction x n) of each class's n training images, "
                          f"which is all {n} of class {class_order[c]} in task {t + 1}, leaving none to train on")


def _task(index: int, classes: list[int], train_x: torch.Tensor, train_y: torch.Tensor,
          test_x: torch.Tensor, test_y: torch.Tensor, val_fraction: float, val_split: str,
          rng: np.random.Generator) -> Task:
    """A Task whose val set is val_fraction of its train samples (_validation_mask)."""
    is_val = torch.from_numpy(_validation_mask(train_y, val_fraction, val_split, rng))
    return Task(index, list(classes), train_x[~is_val], train_y[~is_val], train_x[is_val],
                train_y[is_val], test_x, test_y)


def make_scenario(dataset: ArrayDataset, kind: str, num_tasks: int, seed: int = 0,
                  val_fraction: float = 0.0, class_order: str = "seeded", val_split: str = "random") -> Scenario:
    """Cut `dataset` into num_tasks tasks of scenario `kind`, reproducibly for a given seed.

    class-IL / task-IL: the class order (labkit.data.class_orders: "seeded" =
    np.random.default_rng(seed).permutation(num_classes), "facil", or an explicit one), cut into
    contiguous groups; labels become incremental labels (position in that order). data-IL:
    every task has all classes (relabelled by the order unless it is "seeded"); the train set
    and the test set are each dealt into num_tasks disjoint, class-balanced subsets (task t is
    tested on its own test subset). val_fraction of each task's train samples (seeded; per
    class with val_split "stratified") is moved to val_x / val_y; a stratified fraction that
    would move every training image of a class is refused (check_stratified).
    """
    samples = min(len(dataset.train_y), len(dataset.test_y))
    check_tasks(kind, num_tasks, dataset.num_classes, num_samples=samples, dataset=dataset.name)
    _check_val_fraction(val_fraction)
    check_class_order(class_order, dataset.num_classes)
    if val_split not in VAL_SPLITS:
        raise ConfigError("val_split", val_split, f"choose one of {', '.join(VAL_SPLITS)}")
    rng = np.random.default_rng(seed)
    order = None if class_order == "seeded" else orders.class_order(class_order, dataset.num_classes, seed, rng)
    partition = SCENARIOS.get(kind)(dataset, num_tasks, rng, order)
    incremental = torch.from_numpy(_inverse(np.asarray(partition.class_order)))
    train_y, test_y = incremental[dataset.train_y], incremental[dataset.test_y]
    if val_split == "stratified":
        check_stratified(val_fraction, [train_y[torch.from_numpy(i)] for i in partition.train_indices],
                         partition.class_order)
    tasks = []
    for index, (classes, train, test) in enumerate(zip(
            partition.classes, partition.train_indices, partition.test_indices)):
        train, test = torch.from_numpy(train), torch.from_numpy(test)
        tasks.append(_task(index, classes, dataset.train_x[train], train_y[train],
                           dataset.test_x[test], test_y[test], val_fraction, val_split, rng))
    return Scenario(kind, tasks, partition.class_order, dataset.num_classes, dataset.input_shape)
