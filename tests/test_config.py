"""Bad input: one clear ConfigError naming the field, the value and what is valid, before training."""
import importlib

import pytest

from labkit import ConfigError, RunConfig, run
from labkit.data import DatasetNotFoundError

BAD = [
    ({"dataset": "mnist"}, "dataset", "digits"),
    ({"scenario": "domain-il"}, "scenario", "class-il"),
    ({"method": "icarl"}, "method", "lwf"),
    ({"loss": "hinge"}, "loss", "mse"),
    ({"backbone": "vit"}, "backbone", "resnet32"),
    ({"tasks": 11}, "tasks", "10"),
    ({"tasks": 0}, "tasks", "positive"),
    ({"epochs": 0}, "epochs", "positive"),
    ({"epochs": -2}, "epochs", "positive"),
    ({"batch_size": 0}, "batch_size", "positive"),
    ({"lr": 0.0}, "lr", "> 0"),
    ({"lr": -0.1}, "lr", "> 0"),
    ({"val_fraction": 1.0}, "val_fraction", "< 1"),
    ({"optimizer": "rmsprop"}, "optimizer", "adam"),
    ({"method": "lwf", "loss": "mse"}, "loss", "ce"),
    ({"method": "ewc", "method_params": {"lambda": 1}}, "method_params", "lamb"),
    ({"method": "ewc", "method_params": {"lamb": "lots"}}, "method_params.lamb", "float"),
    ({"method": "ewc", "method_params": {"fisher_labels": "model"}}, "method_params.fisher_labels", "sampled"),
]


@pytest.mark.parametrize("changes,field,hint", BAD)
def test_bad_field_is_named_with_value_and_valid_choices(changes, field, hint):
    events = []
    with pytest.raises(ConfigError) as info:
        run(RunConfig(**changes), events.append)
    error = info.value
    assert error.field == field
    message = str(error)
    assert field in message and repr(error.value) in message and hint in message
    assert events == []  # refused before anything ran


def test_dataset_folder_with_nothing_in_it_names_the_paths_searched(tmp_path, monkeypatch):
    ds = importlib.import_module("labkit.data.datasets")  # the module, not the registry
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIRS", [tmp_path / "system"])
    events = []
    with pytest.raises(DatasetNotFoundError) as info:
        run(RunConfig(dataset="fashion_mnist", data_root=str(tmp_path)), events.append)
    assert str(tmp_path) in str(info.value)
    assert events == []


def test_config_round_trips_and_refuses_unknown_fields():
    c = RunConfig(method="ewc", method_params={"lamb": 10.0})
    assert RunConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="colour"):
        RunConfig.from_dict({"colour": "red"})
