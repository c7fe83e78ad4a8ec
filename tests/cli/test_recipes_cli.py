"""Method recipes on the command line (labkit.protocols.recipes.fill_from_recipes: DLCFT runs with its MSE,
Adam and pre-training unless told otherwise, and says so on stderr), --config FILE (a stored
run's config.json repeats it; flags override the file; bad files refused naming `config` or the
field, and the path), and --help naming the valid values of every choice field."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.cli.config_flags import config_from
from labkit.cli.main import build_parser, main
from labkit.config import DEVICES, OPTIMIZERS, RunConfig
from labkit.data import DATASETS, SCENARIOS
from labkit.experiment.store import RunDir, list_runs
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.models import BACKBONES
from labkit.protocols.presets import PRESETS
from labkit.protocols.recipes import fill_from_recipes
from labkit.errors import ConfigError

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]


def cli_config(*args: str) -> RunConfig:
    return config_from(build_parser().parse_args(["run", *args]))


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- recipes


def test_dlcft_on_digits_data_il_is_accepted_with_its_papers_loss_and_the_line_names_what_was_filled(capsys):
    config = cli_config("--dataset", "digits", "--scenario", "data-il", "--method", "dlcft")
    # hand-written: DLCFT's recipe (MSE, Adam 1e-3, pre-trained) over RunConfig's defaults; mse's
    # own recipe (Adam 1e-2) loses to the method's; momentum is RunConfig's, as the optimiser is one choice
    assert config == RunConfig(dataset="digits", scenario="data-il", method="dlcft", loss="mse",
                               optimizer="adam", lr=1e-3, momentum=0.9, pretrained="auto")
    assert config.validate() is config
    assert capsys.readouterr().err == ("from the recipes: loss=mse (method dlcft), optimizer=adam, lr=0.001, "
                                       "momentum=0.9 (method dlcft), pretrained=auto (method dlcft)\n")


def test_given_fields_are_kept_and_not_printed(capsys):
    config = cli_config("--method", "dlcft", "--loss", "mse", "--lr", "0.01")
    assert (config.loss, config.optimizer, config.lr, config.pretrained) == ("mse", "adam", 0.01, "auto")
    line = capsys.readouterr().err
    assert line == "from the recipes: optimizer=adam, momentum=0.9 (method dlcft), pretrained=auto (method dlcft)\n"
    assert "lr=" not in line and "loss=" not in line


def test_nothing_filled_prints_nothing_and_a_refused_config_prints_only_its_error(capsys):
    assert cli_config("--method", "lwf") == RunConfig(method="lwf")
    assert capsys.readouterr().err == ""
    cli_config("--method", "lwf", "--loss", "mse")  # mse's recipe applies, but LwF refuses mse: no line
    assert capsys.readouterr().err == ""


def test_fill_from_recipes_says_whose_each_value_is_and_keeps_a_presets_optimiser_whole():
    config, sources = fill_from_recipes(RunConfig(), {"method": "dlcft", "backbone": "cnn"})
    # the cnn's Adam 1e-3 is overridden by DLCFT's (the same values): every value is the method's
    assert sources == {"loss": ("mse", "method dlcft"), "optimizer": ("adam", "method dlcft"),
                       "lr": (1e-3, "method dlcft"), "momentum": (0.9, "method dlcft"),
                       "pretrained": ("auto", "method dlcft")}
    assert (config.loss, config.backbone, config.optimizer, config.lr) == ("mse", "cnn", "adam", 1e-3)
    _, sources = fill_from_recipes(RunConfig(), {"loss": "mse"})
    assert sources == {"optimizer": ("adam", "loss mse"), "lr": (1e-2, "loss mse"), "momentum": (0.9, "loss mse")}
    protocol = PRESETS.get("rethinking-digits")  # SGD 0.1, momentum 0: its own optimiser
    config, sources = fill_from_recipes(protocol, {"method": "dlcft"})
    assert sources == {"loss": ("mse", "method dlcft"), "pretrained": ("auto", "method dlcft")}
    assert (config.optimizer, config.lr, config.momentum) == (protocol.optimizer, protocol.lr, protocol.momentum)
    assert fill_from_recipes(RunConfig(), {}) == (RunConfig(), {})
    with pytest.raises(ConfigError, match="colour"):
        fill_from_recipes(RunConfig(), {"colour": "red"})


def test_the_apps_loss_starts_from_the_methods_recipe_and_its_optimiser_from_that_loss(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LABKIT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(METHODS.get("ewc"), "recipe", {"loss": "mse"})  # EWC can use every loss
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=60).run()
    at.sidebar.selectbox(key="method").set_value("ewc").run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="loss:ewc").value == "mse"
    assert at.sidebar.selectbox(key="optimizer:ewc:mse:mlp").value == "adam"  # mse's own recipe: Adam 1e-2
    assert at.sidebar.number_input(key="lr:ewc:mse:mlp").value == pytest.approx(1e-2)


# ---------------------------------------------------------------- --config FILE


def stored_run(runs_dir, *args: str) -> RunDir:
    """The run folder `run ARGS` makes."""
    before = {r.path for r in list_runs(runs_dir)}
    assert main(["--runs-dir", str(runs_dir), "run", *args]) == 0
    (made,) = [r for r in list_runs(runs_dir) if r.path not in before]
    return made


def test_a_stored_run_is_repeated_from_its_config_json(tmp_path):
    first = stored_run(tmp_path, "--dataset", "digits", "--tasks", "2", "--epochs", "1", "--device", "cpu",
                       "--method", "ewc", "--param", "lamb=100", "--seed", "3")
    again = stored_run(tmp_path, "--config", str(first.path / "config.json"))
    assert again.path != first.path
    assert again.config() == first.config()  # method_params included
    a, b = first.result(), again.result()
    assert a.tasks_done == b.tasks_done == 2
    assert (b.acc_taw, b.acc_tag) == (a.acc_taw, a.acc_tag)


def test_flags_override_the_file_and_the_file_overrides_the_preset(tmp_path):
    fields = {"method": "lwf", "tasks": 3, "lr": 0.02, "epochs": 3, "method_params": {"T": 4.0}}
    as_json = write(tmp_path / "run.json", json.dumps(fields))
    as_toml = write(tmp_path / "run.toml", 'method = "lwf"\ntasks = 3\nlr = 0.02\nepochs = 3\n[method_params]\nT = 4.0\n')
    for path in (as_json, as_toml):
        assert cli_config("--config", str(path)) == RunConfig(**fields)
        assert cli_config("--config", str(path), "--tasks", "2", "--param", "lamb=2") == \
            RunConfig(**{**fields, "tasks": 2, "method_params": {"T": 4.0, "lamb": "2"}})
    protocol = PRESETS.get("rethinking-digits")
    config = cli_config("--preset", "rethinking-digits", "--config", str(as_json), "--epochs", "2")
    assert config == protocol.replace(method="lwf", tasks=3, lr=0.02, epochs=2, method_params={"T": 4.0})


def test_a_file_without_the_loss_gets_the_methods(tmp_path, capsys):
    path = write(tmp_path / "dlcft.json", json.dumps({"method": "dlcft", "scenario": "data-il"}))
    config = cli_config("--config", str(path))
    assert (config.loss, config.optimizer, config.pretrained) == ("mse", "adam", "auto")
    assert "loss=mse (method dlcft)" in capsys.readouterr().err


@pytest.mark.parametrize("name, text, field, says", [
    ("missing.json", None, "config", "no such file"),
    ("run.yaml", "method: lwf\n", "config", ".json or .toml"),
    ("run.json", '{"method": "lwf", "colour": "red"}', "config", "'colour' is not a RunConfig field"),
    ("run.json", "[1, 2]", "config", "not a list"),
    ("run.json", '{"method": "lwf",', "config", "JSONDecodeError"),
    ("run.toml", "method = ", "config", "TOMLDecodeError"),
    ("run.json", '{"lr": "fast"}', "lr", "a finite number"),
    ("run.json", '{"method": "lwf", "loss": "mse"}', "loss", "lwf"),
    ("run.json", '{"method": "ewc", "method_params": {"lamb": -1}}', "method_params.lamb", ">= 0"),
])
def test_a_bad_file_is_refused_naming_the_field_and_the_path_before_anything_is_written(tmp_path, capsys, name, text,
                                                                                          field, says):
    path = tmp_path / name
    if text is not None:
        write(path, text)
    with pytest.raises(ConfigError) as caught:
        cli_config("--config", str(path))
    assert caught.value.field == field and says in str(caught.value) and str(path) in str(caught.value)
    runs = tmp_path / "runs"
    assert main(["--runs-dir", str(runs), "run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}=") and str(path) in err and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())


def test_a_flag_that_replaces_the_files_bad_value_makes_it_good(tmp_path):
    path = write(tmp_path / "run.json", '{"lr": "fast", "tasks": 2}')
    assert cli_config("--config", str(path), "--lr", "0.01") == RunConfig(lr=0.01, tasks=2)


def test_resume_takes_no_config_file(tmp_path, capsys):
    path = write(tmp_path / "run.json", "{}")
    assert main(["--runs-dir", str(tmp_path), "run", "--resume", "x", "--config", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: resume=")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["digits", "data-il", "dlcft", "lwf", "mse", "ce", "adam", "cnn", "auto", "cpu", 0.01, 2, 1]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
# plausible values for some fields (any combination of them may or may not be valid), else junk
PLAUSIBLE = {"dataset": ["digits", "cifar10"], "scenario": list(SCENARIOS), "tasks": [1, 2, 5, 11], "method": list(METHODS),
             "loss": list(LOSSES), "backbone": list(BACKBONES), "optimizer": list(OPTIMIZERS), "lr": [0.01, 1e-3, 0],
             "epochs": [1, 3], "seed": [0, 7], "pretrained": ["", "auto"], "method_params": [{}, {"lamb": 2}]}
json_objects = (st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6)
                | st.fixed_dictionaries({}, optional={name: st.sampled_from(values) | json_values
                                                     for name, values in PLAUSIBLE.items()}))
PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def read_or_refuse(path) -> RunConfig | None:
    """The file's config, valid; None when it was refused with a ConfigError (anything else fails)."""
    try:
        return cli_config("--config", str(path)).validate()
    except ConfigError as error:
        assert error.field, error
        return None


@PROPERTY
@given(fields=json_objects)
def test_any_json_object_is_read_into_a_valid_config_or_refused(tmp_path, fields):
    path = write(tmp_path / "any.json", json.dumps(fields))
    config = read_or_refuse(path)
    if config is not None:  # every value the file gave is the config's (as RunConfig itself takes it)
        for key, value in fields.items():
            assert getattr(config, key) == getattr(RunConfig().replace(**{key: value}), key), key


@PROPERTY
@given(text=st.text(max_size=60), suffix=st.sampled_from([".json", ".toml"]))
def test_any_text_in_a_config_file_is_read_or_refused(tmp_path, text, suffix):
    read_or_refuse(write(tmp_path / f"any{suffix}", text))


def test_deeply_nested_json_is_refused_not_a_recursion_traceback(tmp_path):
    with pytest.raises(ConfigError, match="config="):
        cli_config("--config", str(write(tmp_path / "deep.json", "[" * 100_000)))


# ---------------------------------------------------------------- --help


def test_help_names_the_valid_values_of_every_choice_field(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100000")  # one line per option: argparse would wrap names at hyphens
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    helps: dict[str, str] = {}  # option -> its help text (a long option's starts on the next line)
    for line in capsys.readouterr().out.split("options:\n")[1].splitlines():
        if line.lstrip().startswith("-"):
            option = line.split()[0]
            helps[option] = ""
        helps[option] += " " + line.strip()
    registered = {"dataset": DATASETS, "scenario": SCENARIOS, "method": METHODS, "loss": LOSSES,
                  "backbone": BACKBONES, "optimizer": OPTIMIZERS, "preset": PRESETS, "device": DEVICES}
    for option, names in registered.items():
        listed = helps[f"--{option}"].split("one of: ")[1].split(";")[0]
        assert [name.strip() for name in listed.split(",")] == list(names), option
    assert len(list(METHODS)) > 20 and "dlcft" in list(METHODS) and "ova_bce" in list(LOSSES)
