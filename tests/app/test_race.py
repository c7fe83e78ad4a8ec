"""labkit.app.race: runners that differ in one field only, checked before any starts, and who leads
where every runner has been measured."""
from __future__ import annotations

import pytest

from labkit import RunConfig
from labkit.app.race import leader_line, optimiser_text, race_configs, standings
from labkit.experiment.result import RunResult
from labkit.protocols.presets import PRESETS
from labkit.protocols.recipes import LOSS_RECIPES, training_defaults
from labkit.errors import ConfigError

BASE = RunConfig(dataset="digits", scenario="task-il", method="ewc", method_params={"lamb": 10.0}, seed=3)


def test_runners_differ_in_the_raced_field_only():
    runners = race_configs(BASE, methods=["finetune", "lwf", "lwf-bsr"])
    assert list(runners) == ["finetune", "lwf", "lwf-bsr"]
    for name, config in runners.items():  # same seed: same class order and initial weights
        assert config == BASE.replace(method=name, method_params={})
    losses = race_configs(BASE, losses=["ce", "mse"])
    assert [c.loss for c in losses.values()] == ["ce", "mse"]
    assert all(c.method_params == {"lamb": 10.0} and c.seed == 3 for c in losses.values())
    optimiser = ("optimizer", "lr", "momentum")
    for loss, config in losses.items():  # and in the optimiser its loss brings
        assert config.replace(**{f: getattr(BASE, f) for f in optimiser}) == BASE.replace(loss=loss)


def test_a_race_of_losses_gives_each_runner_its_own_losss_recipe():
    """The sidebar's optimiser (here Adam 0.3, chosen for ce) is not forced on mse, whose gradients
    are about 30 / K times softmax CE's: each loss runs as `python -m labkit run --loss L` would."""
    sidebar = BASE.replace(method="finetune", method_params={}, optimizer="adam", lr=0.3)
    runners = race_configs(sidebar, losses=["ce", "mse", "taylor"])
    for loss in ("mse", "taylor"):
        recipe = LOSS_RECIPES[loss]
        assert (runners[loss].optimizer, runners[loss].lr, runners[loss].momentum) == \
            (recipe["optimizer"], recipe["lr"], RunConfig().momentum)
        assert optimiser_text(sidebar, loss, RunConfig()) == \
            f"{recipe['optimizer']}, lr {recipe['lr']:g}, momentum 0.9 (loss {loss}'s recipe)"
    assert (runners["ce"].optimizer, runners["ce"].lr) == ("sgd", 0.05)  # ce has no recipe: RunConfig's
    assert optimiser_text(sidebar, "ce", RunConfig()).endswith("(RunConfig's defaults)")
    cnn = race_configs(sidebar.replace(backbone="cnn"), losses=["ce", "mse"])  # the backbone's recipe wins
    for config in cnn.values():
        recipe = training_defaults("finetune", config.loss, "cnn")
        assert (config.optimizer, config.lr) == (recipe["optimizer"], recipe["lr"]) == ("adam", 1e-3)
    preset = PRESETS.get("rethinking-digits")  # a preset's own optimiser is its protocol's: kept whole
    kept = race_configs(preset.replace(method="finetune"), losses=["ce", "mse"], start=preset)
    assert {(c.optimizer, c.lr, c.momentum) for c in kept.values()} == {(preset.optimizer, preset.lr, preset.momentum)}
    assert optimiser_text(preset.replace(method="finetune"), "mse", preset).endswith("(the preset's)")


@pytest.mark.parametrize("kwargs, field", [
    ({"methods": ["lwf"]}, "race methods"), ({"methods": ["lwf", "lwf"]}, "race methods"),
    ({"methods": ["a", "b", "c", "d"]}, "race methods"), ({}, "race"),
    ({"methods": ["lwf", "ewc"], "losses": ["ce", "mse"]}, "race"),
    ({"methods": ["lwf", "nope"]}, "race[nope].method"),
    ({"methods": ["finetune", "dlcft"]}, "race[dlcft].loss"),  # dlcft trains with mse only
])
def test_a_race_that_cannot_run_names_its_runner(kwargs, field):
    with pytest.raises(ConfigError) as error:
        race_configs(BASE, **kwargs)
    assert error.value.field == field


def result(rows: list[list[float]]) -> RunResult:
    return RunResult(config={}, acc_taw=rows, acc_tag=[[v / 2 for v in row] for row in rows])


def test_the_leader_is_judged_after_the_last_task_every_runner_finished():
    results = {"a": result([[0.9], [0.5, 0.9], [0.1, 0.1, 0.9]]), "b": result([[0.8], [0.8, 0.8]])}
    statuses = {"a": "running", "b": "running"}
    common, ranked = standings(results, statuses, "taw")
    # after task 2: a's A_2 = (0.5 + 0.9) / 2 = 0.7, b's (0.8 + 0.8) / 2 = 0.8; a's task 3 is not compared
    assert common == 2 and [(s.label, s.accuracy) for s in ranked] == [("b", pytest.approx(0.8)),
                                                                       ("a", pytest.approx(0.7))]
    line = leader_line(results, statuses, 5)
    assert "after task 2 of 5" in line and "task-aware: **b** leads (b 80.0%, a 70.0%)" in line
    assert "task-agnostic: **b** leads (b 40.0%, a 35.0%)" in line


def test_a_runner_that_diverged_is_out_of_the_race_and_said_to_be():
    results = {"a": result([[0.9], [0.5, 0.9]]), "b": result([[0.2]])}
    line = leader_line(results, {"a": "finished", "b": "diverged"}, 2)
    assert "**b** diverged after 1 task(s): out of the race" in line
    assert "at the end" in line and "only **a** is still racing" in line


def test_level_runners_and_a_race_not_measured_yet():
    same = {"a": result([[0.5]]), "b": result([[0.5]])}
    assert "level at the top" in leader_line(same, {"a": "running", "b": "running"}, 3)
    assert "no task measured in every run yet" in leader_line({"a": result([[0.5]]), "b": result([])},
                                                              {"a": "running", "b": "running"}, 3)


def test_a_race_of_losses_says_why_a_method_of_one_loss_cannot_race():
    with pytest.raises(ConfigError) as error:
        race_configs(BASE.replace(method="lucir"), losses=["ce"])
    assert error.value.field == "race losses"
    assert str(error.value).endswith("the method lucir trains with one loss only (ce): pick another method to "
                                     "race losses")
    with pytest.raises(ConfigError, match=r"race losses=\['ce'\] is not valid: 2 to 3 different losses"):
        race_configs(BASE.replace(method="ewc"), losses=["ce"])  # ewc has several: the plural is spelt right
