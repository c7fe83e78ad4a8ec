"""Class orders and validation splits as the released code makes them: FACIL's shuffle for a
seed, an explicit order honoured by every scenario, and the stratified split's per-class counts."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import RunConfig
from labkit.data import load_dataset, make_scenario
from labkit.data.class_orders import explicit_order, facil_order
from labkit.errors import ConfigError

DIGITS = load_dataset("digits", "data")


def facil_data_loader_order(num_classes: int, seed: int) -> list[int]:
    """The order as FACIL computes it: seed_everything sets numpy's global seed, then
    memory_dataset.get_data shuffles list(range(num_classes)) with np.random.shuffle."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        order = list(range(num_classes))
        np.random.shuffle(order)
        return order
    finally:
        np.random.set_state(state)


@pytest.mark.parametrize("num_classes", [10, 100])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_facil_order_is_the_order_facil_computes(num_classes, seed):
    assert facil_order(num_classes, seed) == facil_data_loader_order(num_classes, seed)


def test_facil_order_for_cifar100_seed_0_starts_as_the_released_code_s():
    assert facil_order(100, 0)[:10] == [26, 86, 2, 55, 75, 93, 16, 73, 54, 95]


def test_seeded_is_the_order_every_earlier_run_had():
    before = make_scenario(DIGITS, "class-il", 5, seed=3, val_fraction=0.1)
    now = make_scenario(DIGITS, "class-il", 5, seed=3, val_fraction=0.1, class_order="seeded", val_split="random")
    assert now.class_order == before.class_order
    assert all(torch.equal(a.val_y, b.val_y) and torch.equal(a.train_x, b.train_x)
               for a, b in zip(now.tasks, before.tasks))


@pytest.mark.parametrize("kind", ["class-il", "task-il", "data-il"])
def test_an_explicit_order_is_honoured_by_every_scenario(kind):
    order = [9, 3, 0, 7, 1, 8, 2, 6, 4, 5]
    scenario = make_scenario(DIGITS, kind, 5, seed=0, class_order=",".join(map(str, order)))
    assert scenario.class_order == order
    test_original = DIGITS.test_y.numpy()
    for task in scenario.tasks:
        # incremental label i is original class order[i]: map every test label back and compare
        originals = np.asarray(order)[task.test_y.numpy()]
        kept = np.isin(test_original, originals)
        assert sorted(set(originals.tolist())) == sorted(set(test_original[kept].tolist()))
    if kind != "data-il":
        first = np.asarray(order)[scenario.tasks[0].train_y.numpy()]
        assert set(first.tolist()) == {9, 3}  # task 1 holds the first two classes of the order


def test_the_stratified_split_holds_out_each_class_in_proportion():
    scenario = make_scenario(DIGITS, "task-il", 5, seed=1, val_fraction=0.1, val_split="stratified")
    for task in scenario.tasks:
        for c in task.classes:
            n = int((task.train_y == c).sum() + (task.val_y == c).sum())
            assert int((task.val_y == c).sum()) == int(np.round(0.1 * n))
    random = make_scenario(DIGITS, "task-il", 5, seed=1, val_fraction=0.1)
    assert [len(t.val_y) for t in random.tasks] != [] and random.class_order == scenario.class_order


def test_a_run_config_takes_the_order_as_a_list_or_text_and_refuses_bad_ones():
    config = RunConfig(dataset="digits", class_order=list(range(9, -1, -1)))
    assert config.class_order == "9,8,7,6,5,4,3,2,1,0" and config.validate().to_dict()["class_order"] == config.class_order
    for bad in ("1,2,3", "0,0,1,2,3,4,5,6,7,8", "random", "", "0,1,2,3,4,5,6,7,8,10"):
        with pytest.raises(ConfigError) as error:
            RunConfig(dataset="digits", class_order=bad).validate()
        assert error.value.field == "class_order"
    with pytest.raises(ConfigError) as error:
        RunConfig(val_split="per-class").validate()
    assert error.value.field == "val_split"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789, -x", max_size=30))
def test_any_order_text_is_a_permutation_or_refused_naming_class_order(text):
    try:
        order = explicit_order(text, 10)
    except ConfigError as error:
        assert error.field == "class_order"
    else:
        assert sorted(order) == list(range(10))
