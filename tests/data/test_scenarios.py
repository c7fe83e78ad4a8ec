"""Scenarios cut a dataset into tasks: class groups, incremental labels, sample subsets, val."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from labkit.data import SCENARIOS, ArrayDataset, check_tasks, load_dataset, make_scenario
from labkit.errors import ConfigError


@pytest.fixture(scope="module")
def digits() -> ArrayDataset:
    return load_dataset("digits")


def toy(num_classes: int = 10, per_class: int = 6) -> ArrayDataset:
    """A dataset whose first pixel is the sample's index, so samples can be traced."""
    n = num_classes * per_class
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).repeat(1, 1, 2, 2)
    y = torch.arange(n) % num_classes
    return ArrayDataset("toy", x, y, x[: n // 2].clone(), y[: n // 2].clone(), num_classes)


def sample_ids(x: torch.Tensor) -> list[int]:
    return x[:, 0, 0, 0].long().tolist()


def test_registry_has_the_three_kinds_with_docs():
    assert SCENARIOS.names() == ["class-il", "task-il", "data-il"]
    assert "given" in SCENARIOS.doc("task-il") and "unknown" in SCENARIOS.doc("class-il")


def test_class_il_groups_are_disjoint_and_cover_all_classes(digits):
    scenario = make_scenario(digits, "class-il", 5, seed=0)
    assert scenario.num_classes == 10 and scenario.input_shape == (1, 8, 8)
    assert [t.classes for t in scenario.tasks] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert sorted(scenario.class_order) == list(range(10))
    assert scenario.class_order == np.random.default_rng(0).permutation(10).tolist()
    assert scenario.head_sizes == [2] * 5
    for task in scenario.tasks:
        assert set(task.train_y.unique().tolist()) == set(task.classes)
        assert set(task.test_y.unique().tolist()) == set(task.classes)
    assert sum(len(t.train_y) for t in scenario.tasks) == len(digits.train_y)
    assert sum(len(t.test_y) for t in scenario.tasks) == len(digits.test_y)


def test_class_order_depends_on_seed_and_is_reproducible(digits):
    orders = {seed: make_scenario(digits, "class-il", 5, seed=seed).class_order for seed in (0, 1)}
    assert orders[0] != orders[1]
    assert make_scenario(digits, "class-il", 5, seed=1).class_order == orders[1]


def test_class_order_maps_incremental_labels_back_to_original_labels():
    data = toy()
    scenario = make_scenario(data, "class-il", 3, seed=4)
    for task in scenario.tasks:
        for sample, label in zip(sample_ids(task.train_x), task.train_y.tolist()):
            assert scenario.class_order[label] == data.train_y[sample].item()
        assert task.classes == list(range(task.offset, task.offset + task.num_classes))


def test_uneven_split_gives_larger_groups_first():
    scenario = make_scenario(toy(), "class-il", 3)
    assert [t.classes for t in scenario.tasks] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [len(t.train_y) for t in scenario.tasks] == [24, 18, 18]


def test_task_il_has_the_same_groups_as_class_il(digits):
    class_il, task_il = (make_scenario(digits, kind, 4, seed=2) for kind in ("class-il", "task-il"))
    assert task_il.kind == "task-il" and task_il.multi_head
    assert task_il.class_order == class_il.class_order
    for a, b in zip(class_il.tasks, task_il.tasks):
        assert a.classes == b.classes
        assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_data_il_subsets_are_disjoint_cover_the_data_and_hold_every_class():
    data = toy(per_class=12)
    scenario = make_scenario(data, "data-il", 4, seed=0)
    assert scenario.class_order == list(range(10)) and scenario.head_sizes == [10]
    assert not scenario.multi_head
    train_ids = [sample_ids(t.train_x) for t in scenario.tasks]
    assert sorted(sum(train_ids, [])) == list(range(120))
    test_ids = [sample_ids(t.test_x) for t in scenario.tasks]
    assert sorted(sum(test_ids, [])) == list(range(60))
    for task in scenario.tasks:
        assert task.classes == list(range(10)) and task.offset == 0
        assert sorted(task.train_y.unique().tolist()) == list(range(10))
        assert torch.equal(task.train_y, data.train_y[sample_ids(task.train_x)])  # labels unchanged
    assert [len(ids) for ids in train_ids] == [30] * 4


def test_data_il_depends_on_seed(digits):
    first = make_scenario(digits, "data-il", 3, seed=0).tasks[0].train_y
    assert torch.equal(first, make_scenario(digits, "data-il", 3, seed=0).tasks[0].train_y)
    assert not torch.equal(first, make_scenario(digits, "data-il", 3, seed=1).tasks[0].train_y)


@pytest.mark.parametrize("kind", ["class-il", "data-il"])
def test_val_split_sizes_and_disjointness(kind):
    data = toy(per_class=10)
    scenario = make_scenario(data, kind, 2, seed=0, val_fraction=0.2)
    for task in scenario.tasks:
        train, val = sample_ids(task.train_x), sample_ids(task.val_x)
        assert len(val) == round(0.2 * (len(train) + len(val))) and len(val) > 0
        assert not set(train) & set(val)
        assert set(task.val_y.tolist()) <= set(task.classes)
    all_ids = sum((sample_ids(t.train_x) + sample_ids(t.val_x) for t in scenario.tasks), [])
    assert sorted(all_ids) == list(range(100))


def test_no_val_fraction_gives_empty_val_tensors_of_the_right_shape(digits):
    task = make_scenario(digits, "class-il", 2).tasks[0]
    assert task.val_x.shape == (0, 1, 8, 8) and task.val_y.shape == (0,)
    assert task.val_y.dtype == torch.int64


@pytest.mark.parametrize("kind, num_tasks, kwargs, field, text", [
    ("domain-il", 2, {}, "scenario", "class-il, task-il, data-il"),
    ("class-il", 0, {}, "tasks", "at least 1"),
    ("class-il", 2.5, {}, "tasks", "whole number"),
    ("class-il", 11, {}, "tasks", "at most 10 for toy with class-il"),
    ("task-il", 11, {}, "tasks", "at most 10"),
    ("data-il", 31, {}, "tasks", "at most 30 for toy with data-il"),
    ("class-il", 2, {"val_fraction": 1.0}, "val_fraction", r"\[0, 1\)"),
    ("data-il", 2, {"val_fraction": -0.1}, "val_fraction", r"\[0, 1\)"),
])
def test_bad_input_raises_config_error_naming_the_field(kind, num_tasks, kwargs, field, text):
    with pytest.raises(ConfigError, match=text) as caught:
        make_scenario(toy(per_class=6), kind, num_tasks, **kwargs)
    assert caught.value.field == field


def test_check_tasks_needs_no_data():
    check_tasks("class-il", 10, 10)
    check_tasks("data-il", 50, 10)
    with pytest.raises(ConfigError, match="at most 100"):
        check_tasks("task-il", 101, 100)
    with pytest.raises(ConfigError, match="scenario"):
        check_tasks("class_il", 2, 10)
