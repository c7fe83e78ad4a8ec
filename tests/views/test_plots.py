import plotly.graph_objects as go
import pytest

from labkit.experiment.result import RunResult
from labkit.views import plots


def run(taw, tag=None, losses=None) -> RunResult:
    return RunResult(config={}, acc_taw=taw, acc_tag=tag or taw, epoch_losses=losses or [])


RESULT = run(
    taw=[[0.9], [0.6, 0.8], [0.5, 0.7, 0.9]],
    tag=[[0.9], [0.3, 0.8], [0.2, 0.4, 0.9]],
    losses=[[2.0, 1.5], [1.8, 1.2, 1.0], [1.1]],
)


def test_forgetting_curves_one_line_per_task():
    fig = plots.forgetting_curves(RESULT)
    assert isinstance(fig, go.Figure)
    assert [tr.name for tr in fig.data] == ["task 1", "task 2", "task 3"]
    assert list(fig.data[0].x) == [1, 2, 3]
    assert list(fig.data[0].y) == pytest.approx([90, 60, 50])
    assert list(fig.data[1].x) == [2, 3]
    assert list(fig.data[1].y) == pytest.approx([80, 70])
    assert list(fig.data[2].y) == pytest.approx([90])
    assert fig.layout.title.text


def test_forgetting_curves_task_agnostic():
    fig = plots.forgetting_curves(RESULT, kind="tag")
    assert list(fig.data[0].y) == pytest.approx([90, 30, 20])


def test_heatmap_text():
    fig = plots.accuracy_heatmap(RESULT)
    (heat,) = fig.data
    assert [list(row) for row in heat.text] == [
        ["90.0", "", ""],
        ["60.0", "80.0", ""],
        ["50.0", "70.0", "90.0"],
    ]
    assert list(heat.y) == ["after task 1", "after task 2", "after task 3"]
    assert list(heat.x) == ["task 1", "task 2", "task 3"]


def test_metric_curves_one_line_per_run():
    other = run(taw=[[1.0], [0.5, 0.7]])
    fig = plots.metric_curves({"lwf": RESULT, "ft": other})
    assert [tr.name for tr in fig.data] == ["lwf", "ft"]
    assert list(fig.data[0].y) == pytest.approx([90, 70, 70])
    assert list(fig.data[1].y) == pytest.approx([100, 60])


def test_metric_curves_forgetting_has_gap_at_first_task():
    fig = plots.metric_curves({"lwf": RESULT}, metric="average_forgetting")
    y = list(fig.data[0].y)
    assert y[0] is None
    assert y[1:] == pytest.approx([30, 25])


def test_training_loss_marks_task_boundaries():
    fig = plots.training_loss(RESULT)
    assert [list(tr.x) for tr in fig.data] == [[1, 2], [3, 4, 5], [6]]
    assert [list(tr.y) for tr in fig.data] == [[2.0, 1.5], [1.8, 1.2, 1.0], [1.1]]
    assert sorted(shape.x0 for shape in fig.layout.shapes) == [2.5, 5.5]


@pytest.mark.parametrize(
    "build",
    [
        lambda: plots.forgetting_curves(RESULT, kind="bad"),
        lambda: plots.accuracy_heatmap(RESULT, kind="bad"),
        lambda: plots.metric_curves({"lwf": RESULT}, kind="bad"),
        lambda: plots.metric_curves({}, kind="bad"),
    ],
)
def test_bad_kind_raises(build):
    with pytest.raises(ValueError, match="kind"):
        build()


def test_bad_metric_raises():
    with pytest.raises(ValueError, match="metric"):
        plots.metric_curves({"lwf": RESULT}, metric="accuracy")


def test_head_imbalance_lines_start_at_the_task_that_added_each_head():
    from labkit.views.plots import head_imbalance

    result = RunResult(config={}, head_stats=[
        {"weight_norm": [1.0], "bias_mean": [0.0], "logit_mean": [0.5]},
        {"weight_norm": [1.5, 2.0], "bias_mean": [0.1, 0.2], "logit_mean": [0.4, 0.9]},
    ])
    fig = head_imbalance(result, "weight_norm")
    assert [list(t.y) for t in fig.data] == [[1.0, 1.5], [2.0]]
    assert [list(t.x) for t in fig.data] == [[1, 2], [2]]
    with pytest.raises(ValueError, match="stat"):
        head_imbalance(result, "norm")


def test_each_method_and_loss_has_its_own_colour_everywhere():
    from labkit.losses import LOSSES
    from labkit.methods import METHODS

    methods = {plots.runner_colour(m) for m in METHODS.names()}
    losses = {plots.runner_colour(n) for n in LOSSES.names()}
    assert len(methods) == len(METHODS.names()) and len(losses) == len(LOSSES.names())
    assert plots.runner_colour("lwf") == plots.runner_colour("lwf")  # keyed by the name, not by the order drawn
    assert plots.runner_colour("some run label") in plots.RUNNER_PALETTE
    colours = {"lwf": plots.runner_colour("lwf"), "finetune": plots.runner_colour("finetune")}
    for order in (["lwf", "finetune"], ["finetune", "lwf"]):
        fig = plots.metric_curves({name: RESULT for name in order}, "average_accuracy", "taw", colours)
        assert {trace.name: trace.line.color for trace in fig.data} == colours
    curvature = plots.curvature_figure({"lwf": run([[0.9]])}, colours)
    assert plots.recolour(go.Figure(go.Scatter(name="lwf: x")), colours).data[0].line.color == colours["lwf"]
    assert all(trace.line.color == colours["lwf"] for trace in curvature.data)
