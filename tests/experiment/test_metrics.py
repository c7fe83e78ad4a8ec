import json
import math

import numpy as np
import pytest

from labkit.experiment import metrics

nan = math.nan

# acc[t, u]: accuracy on task u after learning task t
ACC = np.array(
    [
        [0.9, nan, nan],
        [0.6, 0.8, nan],
        [0.5, 0.7, 0.9],
    ]
)

# Task 0 drops, recovers, then drops: the max over s must pick s = 0 at t = 1, 2 and s = 2 at t = 3.
RISING = np.array(
    [
        [0.8, nan, nan, nan],
        [0.4, 0.9, nan, nan],
        [0.7, 0.9, 0.6, nan],
        [0.2, 0.5, 0.9, 0.7],
    ]
)


def test_average_accuracy_by_hand():
    # t=0: 0.9; t=1: (0.6+0.8)/2 = 0.7; t=2: (0.5+0.7+0.9)/3 = 2.1/3 = 0.7
    assert metrics.average_accuracy(ACC) == pytest.approx([0.9, 0.7, 0.7])


def test_forgetting_matrix_by_hand():
    # f[1,0] = 0.9 - 0.6 = 0.3
    # f[2,0] = max(0.9, 0.6) - 0.5 = 0.4 ; f[2,1] = 0.8 - 0.7 = 0.1
    f = metrics.forgetting_matrix(ACC)
    expected = np.array([[nan, nan, nan], [0.3, nan, nan], [0.4, 0.1, nan]])
    np.testing.assert_allclose(f, expected)


def test_average_forgetting_by_hand():
    # t=0: NaN; t=1: 0.3; t=2: (0.4+0.1)/2 = 0.25
    avg = metrics.average_forgetting(ACC)
    assert math.isnan(avg[0])
    assert avg[1:] == pytest.approx([0.3, 0.25])


def test_totals_by_hand():
    # lower triangle: 0.9 + 0.6 + 0.8 + 0.5 + 0.7 + 0.9 = 4.4 over 6 entries = 0.7333...
    assert metrics.total_average_accuracy(ACC) == pytest.approx(4.4 / 6)
    # forgetting entries 0.3, 0.4, 0.1: 0.8 / 3 = 0.2666...
    assert metrics.total_average_forgetting(ACC) == pytest.approx(0.8 / 3)
    # BWT: ((0.5-0.9) + (0.7-0.8)) / 2 = (-0.4 - 0.1) / 2 = -0.25
    assert metrics.backward_transfer(ACC) == pytest.approx(-0.25)


def test_forgetting_uses_best_earlier_accuracy():
    f = metrics.forgetting_matrix(RISING)
    # task 0: f[1,0] = 0.8-0.4 = 0.4; f[2,0] = max(0.8,0.4)-0.7 = 0.1; f[3,0] = max(0.8,0.4,0.7)-0.2 = 0.6
    # task 1: f[2,1] = 0.9-0.9 = 0.0; f[3,1] = max(0.9,0.9)-0.5 = 0.4
    # task 2: f[3,2] = 0.6-0.9 = -0.3 (it improved: backward transfer shows as negative forgetting)
    np.testing.assert_allclose(f[1:, 0], [0.4, 0.1, 0.6])
    np.testing.assert_allclose(f[2:, 1], [0.0, 0.4])
    np.testing.assert_allclose(f[3, 2], -0.3)
    # average forgetting: t=1: 0.4; t=2: (0.1+0.0)/2 = 0.05; t=3: (0.6+0.4-0.3)/3 = 0.7/3
    assert metrics.average_forgetting(RISING)[1:] == pytest.approx([0.4, 0.05, 0.7 / 3])
    # BWT only looks at the diagonal, not the best: ((0.2-0.8) + (0.5-0.9) + (0.9-0.6)) / 3 = -0.7/3
    assert metrics.backward_transfer(RISING) == pytest.approx(-0.7 / 3)


def test_single_task():
    acc = np.array([[0.75]])
    assert metrics.average_accuracy(acc) == pytest.approx([0.75])
    assert math.isnan(metrics.average_forgetting(acc)[0])
    assert metrics.total_average_accuracy(acc) == pytest.approx(0.75)
    assert math.isnan(metrics.total_average_forgetting(acc))
    assert math.isnan(metrics.backward_transfer(acc))
    s = metrics.summarize(acc)
    assert s["final_average_forgetting"] is None and s["backward_transfer"] is None


def test_summarize_is_json_safe():
    s = metrics.summarize(ACC)
    back = json.loads(json.dumps(s, allow_nan=False))
    assert back["average_accuracy"] == pytest.approx([0.9, 0.7, 0.7])
    assert back["average_forgetting"][0] is None
    assert back["average_forgetting"][1:] == pytest.approx([0.3, 0.25])
    assert back["final_average_accuracy"] == pytest.approx(0.7)
    assert back["final_average_forgetting"] == pytest.approx(0.25)
    assert back["total_average_accuracy"] == pytest.approx(4.4 / 6)
    assert back["total_average_forgetting"] == pytest.approx(0.8 / 3)
    assert back["backward_transfer"] == pytest.approx(-0.25)


def test_empty_matrix_summarizes_to_nothing():
    s = metrics.summarize(np.zeros((0, 0)))
    assert s["average_accuracy"] == [] and s["final_average_accuracy"] is None
    json.dumps(s, allow_nan=False)


def test_non_square_rejected():
    with pytest.raises(ValueError, match="square"):
        metrics.average_accuracy(np.zeros((2, 3)))


def test_natural_kind_is_task_aware_only_in_task_il():
    assert metrics.natural_kind("task-il") == "taw"
    assert metrics.natural_kind("class-il") == metrics.natural_kind("data-il") == "tag"


def test_every_kind_is_a_run_s_matrix_with_a_name_and_an_abbreviation():
    from labkit.experiment.result import RunResult

    result = RunResult(config={}, acc_taw=[[0.9]], acc_tag=[[0.8]])
    assert [result.matrix(kind)[0, 0] for kind in metrics.KINDS] == [0.9, 0.8]  # taw first, then tag
    assert list(metrics.KIND_NAMES) == list(metrics.KIND_ABBREVIATIONS) == list(metrics.KINDS)
    assert metrics.KIND_NAMES["taw"] == "task-aware" and metrics.KIND_ABBREVIATIONS["tag"] == "TAg"
