"""Hyper-parameter search: validation accuracy recorded and computed on the validation split,
search axes parsed into Ray Tune's distributions or refused naming the axis, and a tiny search on
a local Ray whose trials are stored runs, selected on validation, and not run again."""
from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.config import RunConfig
from labkit.data.datasets import load_dataset
from labkit.data.scenarios import make_scenario
from labkit.experiment.checkpointed_run import model_from_task_state
from labkit.experiment.runner import run
from labkit.experiment.store import RunDir, list_runs
from labkit.errors import ConfigError
from labkit.sweep.search import default_axes, parse_search_axis, parse_space, run_search

BASE = RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=1, device="cpu", method="ewc")


def test_validation_accuracy_is_the_accuracy_on_the_held_out_training_samples(tmp_path):
    config = BASE.replace(val_fraction=0.2, method="finetune")
    run_dir = RunDir.create(config.to_dict(), tmp_path)
    result = run(config, run_dir=run_dir)
    assert [len(row) for row in result.val_taw] == [1, 2] and [len(row) for row in result.val_tag] == [1, 2]
    scenario = make_scenario(load_dataset("digits", "data"), "task-il", 2, 0, 0.2)
    model = model_from_task_state(config, scenario, run_dir.load_checkpoint())
    by_hand = []
    for task in scenario.tasks:
        with torch.no_grad():
            logits = model.head_logits(task.val_x)
        by_hand.append(float((logits[task.index].argmax(1) + task.offset == task.val_y).float().mean()))
    assert result.val_taw[-1] == pytest.approx(by_hand)
    assert result.validation_accuracy("taw") == pytest.approx(sum(by_hand) / 2)


def test_a_run_without_a_validation_split_has_no_validation_score():
    result = run(BASE.replace(method="finetune", tasks=1))
    assert result.val_taw == [] and result.validation_accuracy("taw") is None


def test_axes_become_ray_tune_distributions_within_the_bounds():
    tune = pytest.importorskip("ray.tune")
    key, domain = parse_search_axis(BASE, "param.lamb=loguniform:10,1e5")
    assert key == "param.lamb" and isinstance(domain, tune.search.sample.Float)
    assert (domain.lower, domain.upper) == (10.0, 100000.0)
    key, domain = parse_search_axis(BASE, "epochs=randint:1,3")
    assert (domain.lower, domain.upper) == (1, 4)  # HIGH included: Tune's upper bound is exclusive
    assert parse_search_axis(BASE, "lr=0.01,0.1")[1] == {"grid_search": [0.01, 0.1]}
    assert parse_search_axis(BASE, "param.fisher_labels=choice:argmax,sampled")[1].categories == ["argmax", "sampled"]
    assert default_axes("ewc") == ["param.lamb=loguniform:10,1000", "param.alpha=loguniform:0.05,1"]


@pytest.mark.parametrize("item, field", [
    ("lamb=loguniform:1,10", "search"),  # a method parameter is param.NAME
    ("param.lamb=loguniform:0,10", "search[param.lamb]"),  # log of 0
    ("param.lamb=loguniform:-5,10", "search[param.lamb]"),  # below the parameter's bound
    ("param.alpha=uniform:0.5,2", "search[param.alpha]"),  # alpha <= 1
    ("param.lamb=uniform:10,1", "search[param.lamb]"),  # LOW >= HIGH
    ("lr=loguniform:0.1", "search[lr]"), ("epochs=randint:1,x", "search[epochs]"),
    ("param.fisher_labels=choice:argmax,nope", "search[param.fisher_labels]"), ("param.lamb=", "search"),
])
def test_bad_axes_name_the_axis_and_what_is_valid(item, field):
    with pytest.raises(ConfigError) as error:
        parse_space(BASE, [item])
    assert error.value.field == field


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["param.lamb", "param.alpha", "lr", "epochs", "method", "param.nope"]),
       st.sampled_from(["", "loguniform:", "uniform:", "randint:", "choice:", "normal:"]),
       st.text(alphabet="0123456789.,-e x", max_size=14))
def test_any_axis_text_is_read_or_refused_with_a_config_error(key, kind, values):
    pytest.importorskip("ray.tune")
    try:
        parsed_key, _ = parse_search_axis(BASE, f"{key}={kind}{values}")
    except ConfigError as error:
        assert error.field in ("search", f"search[{key}]")
    else:
        assert parsed_key == key


def test_a_method_without_float_parameters_needs_an_axis():
    with pytest.raises(ConfigError, match="--search"):
        default_axes("finetune")


@pytest.mark.ray
def test_a_tiny_search_on_local_ray_selects_on_validation_and_reruns_nothing(tmp_path):
    ray = pytest.importorskip("ray")
    try:
        trials = run_search("tiny", BASE, ["param.lamb=loguniform:1,1000"], tmp_path, samples=3, seed=1,
                            workers=2, verbose=0)
        assert len(trials) == 3 and {t.status for t in trials} == {"finished"}
        scores = [t.score for t in trials]
        assert scores == sorted(scores, reverse=True)
        for t in trials:
            stored = RunDir(tmp_path / t.run_id).result()
            assert stored.config["val_fraction"] == 0.1  # a split was held out to select on
            assert t.score == pytest.approx(sum(stored.val_taw[-1]) / 2)
            assert stored.config["method_params"]["lamb"] == t.key["param.lamb"] and 1 <= t.key["param.lamb"] <= 1000
        stamps = {r.run_id: (r.path / "result.json").stat().st_mtime_ns for r in list_runs(tmp_path)}
        again = run_search("tiny", BASE, ["param.lamb=loguniform:1,1000"], tmp_path, samples=3, seed=1,
                           workers=2, verbose=0)
        assert [t.run_id for t in again] == [t.run_id for t in trials]
        assert {r.run_id: (r.path / "result.json").stat().st_mtime_ns for r in list_runs(tmp_path)} == stamps
        with pytest.raises(ConfigError, match="other options"):
            run_search("tiny", BASE, ["param.lamb=loguniform:1,10"], tmp_path, samples=3, workers=2, verbose=0)
        spec = json.loads((tmp_path / ".tune" / "tiny" / "labkit-search.json").read_text())
        assert spec["search"] == ["param.lamb=loguniform:1,1000"]
    finally:
        ray.shutdown()
