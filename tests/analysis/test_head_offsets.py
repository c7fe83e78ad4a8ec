"""labkit.analysis.head_offsets against hand-computed values on hand-made results, the edge cases (0 and
1 tasks, data-IL's one head), and a real 2-task digits run through every function."""
import numpy as np
import pytest
import torch

import labkit
from labkit import RunConfig, RunResult
from labkit.analysis.head_offsets import (SHIFT_INVARIANCE, head_offsets_figure, head_series, newest_vs_old,
                                          newest_vs_old_figure, offset_reading)
from labkit.errors import ConfigError


def stats(logits, norms):
    return {"weight_norm": norms, "bias_mean": [0.0] * len(norms), "logit_mean": logits}


# task-IL, 3 tasks: the newest head drifts highest and its task wins TAg
NEWEST_WINS = RunResult(
    config={"scenario": "task-il"},
    acc_taw=[[0.9], [0.85, 0.96], [0.8, 0.82, 0.97]],
    acc_tag=[[0.9], [0.2, 0.95], [0.1, 0.3, 0.97]],
    head_stats=[stats([0.5], [1.0]), stats([0.4, 1.2], [1.1, 1.6]), stats([0.3, 1.0, 2.0], [1.2, 1.7, 2.5])])
# the opposite: the first head is highest and the newest task loses TAg
OLDEST_WINS = RunResult(
    config={"scenario": "task-il"},
    acc_taw=[[0.9], [0.88, 0.9], [0.86, 0.87, 0.9]],
    acc_tag=[[0.9], [0.8, 0.3], [0.7, 0.6, 0.1]],
    head_stats=[stats([2.0], [2.0]), stats([2.0, 1.0], [2.0, 1.0]), stats([2.0, 1.0, 0.3], [2.0, 1.0, 0.5])])
DATA_IL = RunResult(
    config={"scenario": "data-il"},
    acc_taw=[[0.5], [0.6, 0.7], [0.7, 0.75, 0.8]],
    acc_tag=[[0.5], [0.6, 0.7], [0.7, 0.75, 0.8]],
    head_stats=[stats([0.1], [1.0]), stats([0.2], [1.1]), stats([0.3], [1.2])])
EMPTY = RunResult(config={})
ONE_TASK = RunResult(config={}, acc_taw=[[0.9]], acc_tag=[[0.9]], head_stats=[stats([0.5], [1.0])])


def panels(fig):
    """{"x": [...traces of the left panel], "x2": [...of the right]}."""
    out = {}
    for trace in fig.data:
        out.setdefault(trace.xaxis, []).append(trace)
    return out


def test_head_series_is_each_heads_statistics_from_the_task_that_added_it():
    assert head_series(NEWEST_WINS) == {
        0: {"tasks": [1, 2, 3], "logit_mean": [0.5, 0.4, 0.3], "weight_norm": [1.0, 1.1, 1.2]},
        1: {"tasks": [2, 3], "logit_mean": [1.2, 1.0], "weight_norm": [1.6, 1.7]},
        2: {"tasks": [3], "logit_mean": [2.0], "weight_norm": [2.5]},
    }


def test_newest_vs_old_is_the_diagonal_against_the_mean_of_the_row_before_it():
    got = newest_vs_old(NEWEST_WINS)
    assert got["tasks"] == [2, 3]
    assert got["tag_newest"] == [0.95, 0.97]
    assert got["tag_old"] == pytest.approx([0.2, (0.1 + 0.3) / 2])
    assert got["taw_newest"] == [0.96, 0.97]
    assert got["taw_old"] == pytest.approx([0.85, (0.8 + 0.82) / 2])


def test_head_offsets_figure_has_one_trace_per_head_per_panel_with_its_values_and_colour():
    fig = head_offsets_figure(NEWEST_WINS)
    left, right = panels(fig)["x"], panels(fig)["x2"]
    assert [list(t.y) for t in left] == [[0.5, 0.4, 0.3], [1.2, 1.0], [2.0]]
    assert [list(t.y) for t in right] == [[1.0, 1.1, 1.2], [1.6, 1.7], [2.5]]
    assert [list(t.x) for t in left] == [list(t.x) for t in right] == [[1, 2, 3], [2, 3], [3]]
    assert [t.line.color for t in left] == [t.line.color for t in right]
    assert len({t.line.color for t in left}) == 3
    assert [t.showlegend for t in fig.data].count(True) == 3  # one legend entry per head
    assert fig.layout.xaxis.title.text == fig.layout.xaxis2.title.text == "tasks learned"
    assert "mean logit" in fig.layout.title.text and "weight" in fig.layout.title.text
    assert not fig.layout.annotations or all("no offsets" not in a.text for a in fig.layout.annotations)


def test_newest_vs_old_figure_draws_the_percentages():
    fig = newest_vs_old_figure(NEWEST_WINS)
    lines = {t.name: list(t.y) for t in fig.data}
    assert lines["newest task, task-agnostic"] == pytest.approx([95.0, 97.0])
    assert lines["old tasks (mean), task-agnostic"] == pytest.approx([20.0, 20.0])
    assert lines["old tasks (mean), task-aware"] == pytest.approx([85.0, 81.0])
    assert all(list(t.x) == [2, 3] for t in fig.data)


def test_reading_says_which_head_is_highest_how_far_apart_and_how_the_newest_task_compares():
    text = offset_reading(NEWEST_WINS)
    gap = max(NEWEST_WINS.head_stats[-1]["logit_mean"]) - min(NEWEST_WINS.head_stats[-1]["logit_mean"])
    assert text.startswith("After task 3, head 3 (the newest) has the highest mean logit (2.000) and head 1 the "
                           f"lowest (0.300), {gap:.3f} apart (up from 0.800 after task 2)")
    assert "head 3 (the newest) has the largest mean weight-row norm (2.500) and head 1 the smallest (1.200)" in text
    assert ("On the newest task, task-agnostic accuracy is 97.0%, above the old tasks' mean (20.0%) by 77.0 points; "
            "task-aware, 97.0%, above the old tasks' mean (81.0%) by 16.0 points.") in text


def test_reading_says_the_opposite_when_the_opposite_holds():
    text = offset_reading(OLDEST_WINS)
    assert "head 1 has the highest mean logit (2.000) and head 3 the lowest (0.300), 1.700 apart" in text
    assert "(the newest)" not in text
    assert "task-agnostic accuracy is 10.0%, below the old tasks' mean (65.0%) by 55.0 points" in text


def test_every_reading_says_what_the_charts_show_and_no_story_halves():
    """Whatever the combination of the two facts, the reading states each one and nothing about a story."""
    mixed = [RunResult(config={}, acc_taw=NEWEST_WINS.acc_taw, acc_tag=OLDEST_WINS.acc_tag,
                       head_stats=NEWEST_WINS.head_stats),
             RunResult(config={}, acc_taw=NEWEST_WINS.acc_taw, acc_tag=NEWEST_WINS.acc_tag,
                       head_stats=OLDEST_WINS.head_stats)]
    for result, highest, way in ((mixed[0], "head 3 (the newest)", "below"), (mixed[1], "head 1", "above")):
        text = offset_reading(result)
        assert f"{highest} has the highest mean logit" in text and "task-agnostic accuracy is" in text
        assert f"{way} the old tasks' mean" in text.split("task-aware")[0]
    for result in (*mixed, NEWEST_WINS, OLDEST_WINS, DATA_IL, ONE_TASK, EMPTY):
        text = offset_reading(result)
        assert "story" not in text and "neither" not in text and "half" not in text


def test_equal_values_are_said_to_be_equal():
    level = RunResult(config={}, acc_taw=[[0.9], [0.8, 0.8]], acc_tag=[[0.9], [0.5, 0.5]],
                      head_stats=[stats([0.5], [1.0]), stats([0.5, 0.5], [1.0, 1.0])])
    text = offset_reading(level)
    assert "all 2 heads have the same mean logit (0.500)" in text and "up from" not in text
    assert "task-agnostic accuracy is 50.0%, equal to the old tasks' mean" in text


def test_no_task_yet():
    assert head_series(EMPTY) == {}
    assert newest_vs_old(EMPTY) == {"tasks": [], "tag_newest": [], "tag_old": [], "taw_newest": [], "taw_old": []}
    fig = head_offsets_figure(EMPTY)
    assert len(fig.data) == 0 and any("no task learned yet" in a.text for a in fig.layout.annotations)
    assert len(newest_vs_old_figure(EMPTY).data[0].x) == 0
    assert offset_reading(EMPTY).startswith("No task learned yet")


def test_one_task_has_one_head_and_no_old_tasks():
    assert head_series(ONE_TASK) == {0: {"tasks": [1], "logit_mean": [0.5], "weight_norm": [1.0]}}
    assert newest_vs_old(ONE_TASK)["tasks"] == []
    fig = head_offsets_figure(ONE_TASK)
    assert len(fig.data) == 2 and any("one head: no offsets to compare" in a.text for a in fig.layout.annotations)
    assert any("2 tasks" in a.text for a in newest_vs_old_figure(ONE_TASK).layout.annotations)
    assert offset_reading(ONE_TASK) == "After task 1 the model has one head: no offsets to compare."


def test_data_il_has_one_head_over_every_task():
    assert head_series(DATA_IL) == {0: {"tasks": [1, 2, 3], "logit_mean": [0.1, 0.2, 0.3],
                                        "weight_norm": [1.0, 1.1, 1.2]}}
    assert newest_vs_old(DATA_IL)["tag_old"] == pytest.approx([0.6, 0.725])
    fig = head_offsets_figure(DATA_IL)
    assert len(fig.data) == 2 and any("one head" in a.text for a in fig.layout.annotations)
    text = offset_reading(DATA_IL)
    assert text == ("After task 3 the model has one head: no offsets to compare. On the newest task, task-agnostic "
                    "accuracy is 80.0%, above the old tasks' mean (72.5%) by 7.5 points; task-aware the same.")


def test_not_a_result_is_a_config_error():
    for function in (head_series, newest_vs_old, head_offsets_figure, newest_vs_old_figure, offset_reading):
        with pytest.raises(ConfigError, match="result"):
            function({"acc_tag": []})


def test_shift_invariance_text_is_two_lines_and_its_identity_holds():
    assert len(SHIFT_INVARIANCE.splitlines()) == 2 and "`softmax(z + c) = softmax(z)`" in SHIFT_INVARIANCE
    z = torch.randn(5, 4, dtype=torch.float64)
    assert torch.allclose((z + 3.7).softmax(-1), z.softmax(-1), atol=1e-15, rtol=0)


@pytest.fixture(scope="module")
def digits_run():
    return labkit.run(RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=1, device="cpu"))


def test_a_real_run_goes_through_every_function(digits_run):
    result = digits_run
    series = head_series(result)
    assert sorted(series) == [0, 1] and series[0]["tasks"] == [1, 2] and series[1]["tasks"] == [2]
    assert series[0]["logit_mean"] == [s["logit_mean"][0] for s in result.head_stats]
    data = newest_vs_old(result)
    assert data["tag_newest"] == [result.acc_tag[1][1]] and data["tag_old"] == [result.acc_tag[1][0]]
    assert len(head_offsets_figure(result).data) == 4
    assert len(newest_vs_old_figure(result).data) == 4
    last = result.head_stats[-1]["logit_mean"]
    text = offset_reading(result)
    assert f"head {int(np.argmax(last)) + 1}" in text.split("has the highest")[0]
    tag = text.split("task-agnostic accuracy is")[1].split("task-aware")[0]
    assert ("above the old" in tag) == (result.acc_tag[1][1] > result.acc_tag[1][0])


def test_the_offset_spread_is_the_largest_minus_the_smallest_mean_logit_after_each_task():
    from labkit.analysis.head_offsets import offset_spread, spread_figure

    stats = [{"weight_norm": [1.0], "bias_mean": [0.0], "logit_mean": [1.0]},
             {"weight_norm": [1.0, 1.0], "bias_mean": [0.0, 0.0], "logit_mean": [0.5, 2.0]},
             {"weight_norm": [1.0] * 3, "bias_mean": [0.0] * 3, "logit_mean": [-1.0, 2.0, 0.25]}]
    result = RunResult(config={"scenario": "task-il"}, acc_taw=[[1.0]] * 3, acc_tag=[[1.0]] * 3, head_stats=stats)
    assert offset_spread(result) == [0.0, 1.5, 3.0]
    fig = spread_figure({"a": result, "b": RunResult(config={}, head_stats=stats[:1])})
    assert [t.name for t in fig.data] == ["a", "b"] and list(fig.data[0].y) == [0.0, 1.5, 3.0]
