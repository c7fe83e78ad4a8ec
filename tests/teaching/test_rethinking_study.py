"""labkit.teaching.rethinking: paired differences against the plain method, the
paper's claims judged on a notebook's runs, the LUCIR variants' readings, which head wins the
task-agnostic argmax, the models kept after every task, and LwM's attention of a teacher and its
students."""
import pytest

from labkit import RunConfig, run
from labkit.analysis.model_probes import winner_agreement
from labkit.experiment.result import RunResult
from labkit.experiment.runner import evaluate
from labkit.methods.lucir import LUCIR_REMEDIES
from labkit.errors import StoreError
from labkit.sweep.rows import run_rows, task_models
from labkit.teaching.reproduce import VERDICTS
from labkit.teaching.rethinking import (argmax_deciders, attention_distances, attention_drift, attention_figure,
                                        claim_results, lucir_readings, paired_against, paired_frame,
                                        top_class_attention)

TINY_LWM = RunConfig(dataset="digits", scenario="task-il", tasks=3, method="lwm", backbone="cnn", epochs=1,
                     optimizer="adam", lr=1e-3, freeze_old_heads=True, knn_k=0, device="cpu")


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


def test_claim_results_judge_the_claims_whose_arms_ran_as_reproduce_does():
    # lwf-bsr above lwf on the diagonal in every seed: higher TAw total accuracy (the paper's side: "shown"),
    # and, as acc[1, 0] stays 0.9, more forgetting (d - 0.9), the other side of the paper's: "opposite"
    lwf = [result(s, 0.90 + 0.01 * s) for s in range(3)]
    bsr = [result(s, 0.95 + 0.01 * s + 0.002 * s * s) for s in range(3)] + [result(3, 0.0, "diverged")]
    results = claim_results({"rethinking-cpu": {"lwf": lwf, "lwf-bsr": bsr}, "lwm-cpu": {"lwm": lwf}})
    verdicts = {r.claim.key: r.verdict for r in results}
    # only the claims with both arms on their CPU protocol: not lwf-s-taw (no lwf-s), not lwm-bsr-taw
    assert set(verdicts) == {"lwf-bsr-taw", "lwf-bsr-forgetting", "lwf-bsr-tag"}
    assert verdicts["lwf-bsr-taw"] == VERDICTS[1] and verdicts["lwf-bsr-forgetting"] == VERDICTS[-1]
    assert all(r.difference.n == 3 and r.runs == "3 of 4 seeds (1 diverged)" for r in results)  # the diverged seed is out


def test_lucir_readings_label_every_variant_as_the_method_s_docstring_does():
    readings = lucir_readings()
    assert set(readings) == set(LUCIR_REMEDIES)
    assert all(readings[s].startswith("released code") for s in ("sr", "br2"))
    assert all(readings[s].startswith("inferred") for s in ("s", "br", "bsr"))


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
    with pytest.raises(StoreError, match="task models kept"):
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


def test_argmax_deciders_count_each_run_s_last_model(kept):
    runs, rows, (models, scenario) = kept
    shares = argmax_deciders({"lwm": rows["lwm"]}, runs)["lwm"]
    assert len(shares) == 1 and set(shares[0]) == {"mass", "offset", "confidence"}
    assert all(0.0 <= v <= 1.0 for v in shares[0].values())
    assert shares[0] == winner_agreement(models[-1], scenario, len(models) - 1)  # the model after the last task


def test_attention_drift_has_one_value_per_step_and_seed(kept):
    runs, rows, _ = kept
    drift = attention_drift({"lwm": rows["lwm"]}, runs)
    assert list(drift["lwm"]) == [1, 2]
    assert all(len(v) == 1 and v[0] > 0 for v in drift["lwm"].values())
