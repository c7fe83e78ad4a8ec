"""Notebook 00's exercises: typical mistakes, each rejected with the message that names it
(MISTAKES is read by test_exercises.py), and the checks' own corner cases."""
from __future__ import annotations

import numpy as np
import torch

from labkit.analysis.paired import PairedDifference
from labkit.teaching.exercises import check
from labkit.teaching.exercises.solutions.notebook00 import final_forgetting

HIGHER = {"measured": PairedDifference(0.14, 0.09, 0.19, 5, 5, 0)}  # LwF's old tasks above finetune's, separated


def old_tasks_drops(acc, best):
    t = len(acc) - 1
    return np.array([best(acc, u, t) - acc[t, u] for u in range(t)])


def divided_by_t(acc):
    return old_tasks_drops(acc, lambda a, u, t: a[u:t, u].max()).sum() / len(acc)


def counts_the_current_task(acc):
    return np.mean(list(old_tasks_drops(acc, lambda a, u, t: a[u:t, u].max())) + [0.0])  # the new task's drop: 0


def every_task_every_row(acc):
    return np.mean([acc[u:, u].max() - acc[-1, u] for u in range(len(acc))])


def max_includes_the_current_row(acc):
    return old_tasks_drops(acc, lambda a, u, t: a[u:t + 1, u].max()).mean()


def first_accuracy(acc):
    return old_tasks_drops(acc, lambda a, u, t: a[u, u]).mean()


def max_over_all_rows(acc):
    return old_tasks_drops(acc, lambda a, u, t: a[:t, u].max()).mean()  # NaN above the diagonal


def every_step(acc):
    return np.mean([acc[u:s, u].max() - acc[s, u] for s in range(1, len(acc)) for u in range(s)])


def in_percent(acc):
    return 100 * final_forgetting(acc)


def per_task(acc):
    return old_tasks_drops(acc, lambda a, u, t: a[u:t, u].max())


MISTAKES = {
    "00.1": [("lower", HIGHER, "You predicted 'lower'"),
             ("yes", HIGHER, "write 'higher' or 'lower'")],
    "00.2": [(divided_by_t, {}, "You divided by the number of tasks learned"),
             (counts_the_current_task, {}, "You divided by the number of tasks learned"),
             (max_includes_the_current_row, {}, "Your max includes the current row t"),
             (every_task_every_row, {}, "the one just learned included, and took each task's best over every row"),
             (first_accuracy, {}, "minus the backward transfer"),
             (max_over_all_rows, {}, "NaN"),
             (every_step, {}, "You averaged f[s, u] over every step s"),
             (in_percent, {}, "in percent"),
             (per_task, {}, "is one number")],
}


def test_the_prediction_is_right_case_insensitively_and_undecided_when_the_interval_holds_zero():
    assert check("00.1", " Higher ", **HIGHER).right
    undecided = check("00.1", "higher", measured=PairedDifference(0.007, -0.08, 0.1, 1, 2, 0))
    assert undecided.verdict == "undecided" and "holds both signs" in undecided.message
    one_seed = check("00.1", "higher", measured=PairedDifference(0.05, float("nan"), float("nan"), 1, 1, 0))
    assert one_seed.verdict == "undecided"


def test_a_prediction_without_a_measurement_is_undecided_not_an_error():
    assert check("00.1", "higher", measured=None).verdict == "undecided"
    assert check("00.1", None, measured=None).verdict == "not attempted"


def test_a_function_that_raises_is_reported_not_raised():
    def broken(acc):
        return acc.nosuchmethod()

    feedback = check("00.2", broken)
    assert feedback.verdict == "wrong" and "raised AttributeError" in feedback.message


def test_torch_and_float32_answers_are_right_and_the_input_may_be_changed():
    def in_torch(acc):
        acc = torch.as_tensor(acc, dtype=torch.float32)
        t = len(acc) - 1
        return torch.stack([acc[u:t, u].max() - acc[t, u] for u in range(t)]).mean()

    def overwrites(acc):
        value = final_forgetting(acc)
        acc[:] = 0.0
        return value

    assert check("00.2", in_torch).right
    assert check("00.2", overwrites).right


def test_an_unknown_wrong_value_shows_the_matrix_and_both_values():
    def off(acc):
        return final_forgetting(acc) + 0.123

    message = check("00.2", off).message
    assert "average_forgetting(acc)[-1] gives" in message and "[0.95]" in message
