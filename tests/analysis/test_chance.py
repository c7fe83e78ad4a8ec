"""labkit.analysis.chance, the one home of chance levels: the per-task levels by hand, and every
level derived from them (after each task, final, totals, forgetting) against a hand computation
of the docstring's formula."""
from __future__ import annotations

import pytest

from labkit.analysis.chance import (chance_after_each_task, chance_forgetting, chance_levels, chance_matrices,
                                    chance_totals, final_chance)
from labkit.config import RunConfig


def test_chance_levels_by_hand():
    taw, tag = chance_levels(10, 5, "class-il")
    assert taw == [0.5] * 5 and tag == pytest.approx([1 / 2, 1 / 4, 1 / 6, 1 / 8, 1 / 10])
    taw, tag = chance_levels(10, 3, "task-il")   # groups of 4, 3, 3
    assert taw == pytest.approx([1 / 4, 1 / 3, 1 / 3]) and tag == pytest.approx([1 / 4, 1 / 7, 1 / 10])
    assert chance_levels(10, 4, "data-il") == ([0.1] * 4, [0.1] * 4)


def test_chance_matrices_hold_the_task_s_level_task_aware_and_the_step_s_task_agnostically():
    aware, agnostic = chance_matrices(10, 3, "task-il")
    assert aware[2].tolist() == pytest.approx([1 / 4, 1 / 3, 1 / 3])  # row t: task u's own classes
    assert agnostic[:, 0].tolist() == pytest.approx([1 / 4, 1 / 7, 1 / 10])  # column u: classes seen after t
    assert agnostic[2].tolist() == pytest.approx([1 / 10] * 3)


def test_after_each_task_averages_the_tasks_seen_task_aware():
    # digits (10 classes) in 3 task-IL tasks of 4, 3, 3 classes: A_t = mean of 1/|C_u| over u <= t
    config = RunConfig(dataset="digits", scenario="task-il", tasks=3)
    assert chance_after_each_task(config) == pytest.approx([1 / 4, (1 / 4 + 1 / 3) / 2, (1 / 4 + 2 / 3) / 3])
    assert chance_after_each_task(config, "tag") == pytest.approx([1 / 4, 1 / 7, 1 / 10])
    assert final_chance(config) == pytest.approx((1 / 4 + 2 / 3) / 3)  # task-IL is judged task-aware
    assert final_chance(config, "tag") == pytest.approx(1 / 10)
    class_il = config.replace(scenario="class-il", tasks=5)
    assert chance_after_each_task(class_il) == pytest.approx([1 / 2, 1 / 4, 1 / 6, 1 / 8, 1 / 10])
    assert final_chance(class_il) == pytest.approx(0.1) and final_chance(class_il, "taw") == pytest.approx(0.5)
    assert final_chance(class_il.replace(scenario="data-il")) == pytest.approx(0.1)


def test_chance_totals_average_the_chance_of_each_cell_of_the_lower_triangle():
    # task-IL, 5 tasks of 2 classes: task-aware 1/2 everywhere; task-agnostic 1/(2(t+1)) in each
    # of the t+1 cells of row t: sum_t (t+1) / (2(t+1)) = 5/2 over 15 cells = 1/6
    assert chance_totals(10, 5, "task-il") == pytest.approx((0.5, 1 / 6))
    assert chance_totals(10, 5, "data-il") == pytest.approx((0.1, 0.1))


def test_a_guess_forgets_only_task_agnostically():
    # task-IL, 5 tasks of 2 classes: f[t, u] = 1/(2(u+1)) - 1/(2(t+1)) for u < t; over the 10
    # cells these sum to 1.85, a mean of 0.185
    assert chance_forgetting(10, 5, "task-il") == pytest.approx((0.0, 0.185))
    assert chance_forgetting(10, 5, "data-il") == pytest.approx((0.0, 0.0))
