"""labkit.studies.rethinking: chance totals, paired differences against the plain method, the
models kept after every task, and LwM's attention of a teacher and its students."""
import pytest

from labkit import RunConfig, run
from labkit.result import RunResult
from labkit.runner import evaluate
from labkit.registry import ConfigError
from labkit.studies.rethinking import (attention_distances, attention_drift, attention_figure, chance_forgetting,
                                       chance_totals, paired_against, paired_frame, top_class_attention)
from labkit.sweep.rows import run_rows, task_models

TINY_LWM = RunConfig(dataset="digits", scenario="task-il", tasks=3, method="lwm", backbone="cnn", epochs=1,
                     optimizer="adam", lr=1e-3, freeze_old_heads=True, knn_k=0, device="cpu")


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


def result(seed: int, diagonal: float, status: str = "finished") -> RunResult:
    """Two tasks: task-aware [[d], [0.9, d]], task-agnostic half of it."""
    return RunResult(config={"seed": seed}, acc_taw=[[diagonal], [0.9, diagonal]],
                     acc_tag=[[diagonal / 2], [0.45, diagonal / 2]], status=status)


def test_paired_against_pairs_by_seed_and_drops_a_diverged_seed():
    results = {"plain": [result(0, 0.8), result(1, 0.7), result(2, 0.6)],
               # listed in another seed order; seed 2 diverged
               "variant": [result(1, 0.75), result(0, 0.9), result(2, 0.0, "diverged")]}
    diff = paired_against(results, "plain")
    assert list(diff) == ["variant"]
    taw = diff["variant"]["TAw acc"]
    # total = mean of (d, 0.9, d): differences (0.1 * 2/3, 0.05 * 2/3) for seeds 0 and 1
    assert taw.n == 2 and taw.mean == pytest.approx(0.075 * 2 / 3)
    assert diff["variant"]["TAg acc"].mean == pytest.approx(taw.mean / 2)
    assert "positive in 2 of 2 seeds" in paired_frame(diff).loc["variant", "TAw acc"]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    rows = run_rows({"lwm": TINY_LWM, "lwf": TINY_LWM.replace(method="lwf", tasks=2)}, [0], "kept", runs,
                    keep_models=("lwm",))
    return runs, rows, task_models(rows["lwm"][0], runs)


def test_the_kept_models_are_the_run_s_models_after_each_task(kept):
    _, rows, (models, scenario) = kept
    kept_result = rows["lwm"][0]
    assert kept_result.acc_taw == run(TINY_LWM).acc_taw  # keeping the models changes nothing
    assert len(models) == TINY_LWM.tasks and not any(m.training for m in models)
    for t, model in enumerate(models):
        assert len(model.heads.sizes) == t + 1
        assert evaluate(model, scenario, t)[0] == pytest.approx(kept_result.acc_taw[t])


def test_a_row_not_kept_keeps_only_its_last_checkpoint(kept):
    runs, rows, _ = kept
    assert rows["lwf"][0].acc_taw == run(TINY_LWM.replace(method="lwf", tasks=2)).acc_taw
    with pytest.raises(ConfigError, match="task models kept"):
        task_models(rows["lwf"][0], runs)


def test_attention_of_a_model_against_itself_is_zero_and_the_figure_has_every_map(kept):
    _, _, (models, scenario) = kept
    x = scenario.tasks[0].test_x[:3]
    cam, classes = top_class_attention(models[0], x, old_heads=1)
    assert cam.shape == (3, 4, 4) and classes.max() < 4  # the 8x8 digits' map is 4x4; head 0 has 4 classes
    distances = attention_distances(models[0], {"itself": models[0], "later": models[1]}, x, old_heads=1)
    assert distances["itself"] == pytest.approx(0.0, abs=1e-6) and distances["later"] > 0
    fig = attention_figure({"LwM": (models[0], models[1]), "other": (models[1], models[2])}, x, 1, "maps")
    assert len(fig.data) == 3 * (1 + 2 * 2)
    assert fig.layout.title.text == "maps"


def test_attention_drift_has_one_value_per_step_and_seed(kept):
    runs, rows, _ = kept
    drift = attention_drift({"lwm": rows["lwm"]}, runs)
    assert list(drift["lwm"]) == [1, 2]
    assert all(len(v) == 1 and v[0] > 0 for v in drift["lwm"].values())
