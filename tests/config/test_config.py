"""Bad input: one clear ConfigError naming the field, the value and what is valid, before training."""
import pytest

import labkit.data.datasets as datasets_module
from labkit import METHODS, ConfigError, RunConfig, run
from labkit.data import DatasetNotFoundError
from labkit.methods import Param

BAD = [
    ({"dataset": "mnist"}, "dataset", "digits"),
    ({"scenario": "domain-il"}, "scenario", "class-il"),
    ({"method": "icarl"}, "method", "lwf"),
    ({"loss": "hinge"}, "loss", "mse"),
    ({"backbone": "vit"}, "backbone", "resnet32"),
    ({"tasks": 11}, "tasks", "10"),
    ({"tasks": 0}, "tasks", ">= 1"),
    ({"epochs": 0}, "epochs", ">= 1"),
    ({"epochs": -2}, "epochs", ">= 1"),
    ({"batch_size": 0}, "batch_size", ">= 1"),
    ({"lr": 0.0}, "lr", "> 0"),
    ({"lr": -0.1}, "lr", "> 0"),
    ({"val_fraction": 1.0}, "val_fraction", "< 1"),
    ({"optimizer": "rmsprop"}, "optimizer", "adam"),
    ({"method": "lwf", "loss": "mse"}, "loss", "ce"),
    ({"method": "ewc", "method_params": {"lambda": 1}}, "method_params", "lamb"),
    ({"method": "ewc", "method_params": {"lamb": "lots"}}, "method_params.lamb", "a finite number >= 0"),
    ({"method": "ewc", "method_params": {"fisher_labels": "model"}}, "method_params.fisher_labels", "empirical"),
    ({"method": "ewc", "method_params": {"fisher_labels": "exact"}}, "method_params.fisher_labels",
     "'exact' is called 'true'"),  # the old name of the true Fisher, refused in new input
    ({"config_version": 1}, "config_version", "from_dict reads"),
    # wrong types: a ConfigError, never a TypeError or AttributeError from deeper down
    ({"dataset": 5}, "dataset", "digits"),
    ({"dataset": ["digits"]}, "dataset", "digits"),
    ({"optimizer": None}, "optimizer", "sgd"),
    ({"tasks": True}, "tasks", "whole number"),
    ({"tasks": 2.0}, "tasks", "whole number"),
    ({"lr": "0.1"}, "lr", "> 0"),
    ({"seed": 1.0}, "seed", "whole number"),
    ({"amp": "yes"}, "amp", "True or False"),
    ({"pretrained": None}, "pretrained", "auto"),
    ({"data_root": 3}, "data_root", "non-empty"),
    ({"data_root": ""}, "data_root", "non-empty"),
    ({"data_root": "a\0b"}, "data_root", "NUL"),
    ({"method_params": "x"}, "method_params", "dict"),
    ({"method_params": {1: 2}}, "method_params", "dict"),
    # numbers: finite and within bounds
    ({"lr": float("nan")}, "lr", "finite"),
    ({"lr": float("inf")}, "lr", "finite"),
    ({"lr": 1001}, "lr", "<= 1000"),
    ({"momentum": 1.0}, "momentum", "< 1"),
    ({"weight_decay": -1e-4}, "weight_decay", ">= 0"),
    ({"weight_decay": 1e300}, "weight_decay", "<= 1000"),
    ({"seed": -1}, "seed", ">= 0"),
    ({"seed": 2**40}, "seed", "<= 4294967295"),
    ({"epochs": 10_001}, "epochs", "<= 10000"),
    ({"batch_size": 1_000_001}, "batch_size", "<= 1000000"),
    ({"lr_patience": -1}, "lr_patience", ">= 0"),
    ({"lr_factor": 1.0}, "lr_factor", "> 1"),
    ({"lr_factor": float("inf")}, "lr_factor", "finite"),
    ({"lr_min": float("nan")}, "lr_min", "finite"),
    ({"knn_k": -1}, "knn_k", ">= 0"),
    ({"knn_k": 1.5}, "knn_k", "whole number"),
    ({"val_fraction": float("nan")}, "val_fraction", "finite"),
    ({"pretrained": "auto:nope"}, "pretrained", "digits"),
    ({"pretrained": "/no/such/checkpoint.pt"}, "pretrained", "no such file"),
    # method parameters: type and range
    ({"method": "lwf", "method_params": {"T": 0}}, "method_params.T", "> 0"),
    ({"method": "lwf", "method_params": {"T": "-1"}}, "method_params.T", "> 0"),
    ({"method": "er", "method_params": {"buffer_size": -1}}, "method_params.buffer_size", ">= 0"),
    ({"method": "er", "method_params": {"buffer_size": "1.5"}}, "method_params.buffer_size", "whole number"),
    ({"method": "er", "method_params": {"buffer_size": 10**9}}, "method_params.buffer_size", "<= 100000"),
    ({"method": "ewc", "method_params": {"lamb": float("nan")}}, "method_params.lamb", "finite"),
    ({"method": "ewc", "method_params": {"alpha": 1.5}}, "method_params.alpha", "<= 1"),
    ({"method": "ewc", "method_params": {"fisher_labels": 5}}, "method_params.fisher_labels", "argmax"),
    ({"method": "der", "method_params": {"alpha": True}}, "method_params.alpha", "finite number"),
    ({"method": "lucir", "method_params": {"K": 1.5}}, "method_params.K", "whole number"),
    ({"method": "dlcft", "loss": "mse", "method_params": {"mc_samples": 0}}, "method_params.mc_samples", ">= 1"),
    ({"method": "dlcft", "loss": "mse", "method_params": {"lamb": "inf"}}, "method_params.lamb", "finite"),
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
    monkeypatch.setattr(datasets_module, "FASHION_MNIST_SYSTEM_DIRS", [tmp_path / "system"])
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


def test_a_huge_value_is_named_without_printing_all_its_digits():
    with pytest.raises(ConfigError) as info:
        RunConfig(seed=10**5000).validate()
    assert str(info.value).startswith("seed=<an int of 16610 bits> is not valid")


@pytest.mark.parametrize("value,expected", [("5", 5), (" 12 ", 12), (2.0, 2), (7, 7)])
def test_an_int_param_takes_whole_numbers_and_their_text(value, expected):
    out = Param(1, "an int", ge=0, source="this test").coerce("method_params.k", value)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", ["1.5", 1.5, "2.0", "1e3", True, "inf", float("nan"), None, [1], "-1", -5])
def test_an_int_param_refuses_fractions_non_numbers_and_out_of_range(value):
    with pytest.raises(ConfigError) as info:
        Param(1, "an int", ge=0, source="this test").coerce("method_params.k", value)
    assert info.value.field == "method_params.k" and "a whole number >= 0" in str(info.value)


def test_a_float_param_keeps_its_type_and_refuses_non_finite_values():
    p = Param(0.5, "a share", ge=0, le=1, source="this test")
    assert p.coerce("f", "1") == 1.0 and type(p.coerce("f", 1)) is float
    for bad in ("nan", float("inf"), 10**400, 1.01, -0.0001, "x", False):
        with pytest.raises(ConfigError, match=r"a finite number >= 0 and <= 1"):
            p.coerce("f", bad)
    with pytest.raises(ConfigError, match="> 0"):
        Param(2.0, "temperature", gt=0, source="this test").coerce("T", 0.0)


def test_a_default_outside_its_own_range_is_a_declaration_error():
    with pytest.raises(ConfigError):
        Param(-1.0, "a weight", ge=0, source="this test")


@pytest.mark.parametrize("name", METHODS.names())
def test_every_numeric_param_of_every_method_is_bounded_below(name):
    for key, p in METHODS.get(name).params.items():
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            assert p.ge is not None or p.gt is not None, f"{name}.{key} declares no range"


def test_valid_params_keep_their_values_and_types():
    assert METHODS.get("lwf").checked_params({"T": "3", "lamb": 2}) == {"lamb": 2.0, "T": 3.0}
    er = METHODS.get("er").checked_params({"buffer_size": "0"})
    assert er == {"buffer_size": 0} and type(er["buffer_size"]) is int
    assert METHODS.get("ewc").checked_params({}) == {"lamb": 100.0, "alpha": 0.5, "fisher_labels": "argmax"}
