"""Names a config is written in (RunConfig.config_version): EWC's fisher_labels say what they
compute since version 2 ("true": the model's predictive distribution, "empirical": the dataset's
labels). A stored config of version 1 (no config_version) is read as what it meant and says so;
new input takes today's names only; any other name is refused naming the field, the value and the
valid names."""
from __future__ import annotations

import contextlib
import json
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import QUICK, Stop, stop_after_task
from labkit import METHODS, ConfigError, RunConfig, RunDir, run
from labkit.config import CONFIG_VERSION
from labkit.curvature import FISHER_LABELS
from labkit.errors import short_repr
from labkit.registry import RenamedValueWarning

EWC = QUICK.replace(method="ewc", method_params={"lamb": 100.0, "fisher_labels": "empirical"})


def written_in_version_1(config: dict) -> dict:
    """`config` (to_dict's) as labkit wrote it before config_version 2: no config_version, and the
    dataset's labels called "true"."""
    old = {k: v for k, v in config.items() if k != "config_version"}
    names = {"empirical": "true", "true": "exact"}
    params = old["method_params"]
    if "fisher_labels" in params:
        old["method_params"] = {**params, "fisher_labels": names.get(params["fisher_labels"], params["fisher_labels"])}
    return old


@contextlib.contextmanager
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("old,now", [("true", "empirical"), ("exact", "true")])
def test_a_version_1_config_is_read_in_todays_names_and_says_so(old, now):
    stored = {**EWC.to_dict(), "method_params": {"lamb": 100.0, "fisher_labels": old}}
    del stored["config_version"]
    with pytest.warns(RenamedValueWarning, match=f"fisher_labels='{old}' is read as '{now}'.*config_version 2"):
        config = RunConfig.from_dict(stored)
    assert config.method_params == {"lamb": 100.0, "fisher_labels": now}
    assert config.config_version == CONFIG_VERSION and config.validate() == config


@pytest.mark.parametrize("labels", ["sampled", "argmax"])
def test_names_that_kept_their_meaning_load_silently(labels):
    stored = written_in_version_1(EWC.replace(method_params={"fisher_labels": labels}).to_dict())
    with no_warnings():
        assert RunConfig.from_dict(stored).method_params == {"fisher_labels": labels}
        assert RunConfig.from_dict(written_in_version_1(QUICK.to_dict())) == QUICK  # nothing renamed


@pytest.mark.parametrize("labels", FISHER_LABELS)
def test_todays_names_round_trip_through_a_stored_config(labels):
    config = EWC.replace(method_params={"fisher_labels": labels}).validate()
    stored = json.loads(json.dumps(config.to_dict()))
    assert stored["config_version"] == CONFIG_VERSION
    with no_warnings():
        assert RunConfig.from_dict(stored) == config


def test_a_version_this_labkit_does_not_know_is_refused_naming_the_field():
    for version in (CONFIG_VERSION + 1, 0, "2", True):
        with pytest.raises(ConfigError) as info:
            RunConfig.from_dict({**EWC.to_dict(), "config_version": version}).validate()
        assert info.value.field == "config_version" and str(CONFIG_VERSION) in info.value.valid


def test_an_old_stored_run_reads_as_it_meant_and_resumes(tmp_path):
    """A run written in version 1's names (config.json, result.json and checkpoint.pt), stopped
    after its first task: read back with the dataset's labels, it resumes to the same result as a
    run given "empirical" today."""
    reference = run(EWC)
    run_dir = RunDir.create(EWC.to_dict(), tmp_path)
    with pytest.raises(Stop):
        run(EWC, stop_after_task(0), run_dir=run_dir)
    old = written_in_version_1(EWC.to_dict())
    (run_dir.path / "config.json").write_text(json.dumps(old))
    result = json.loads((run_dir.path / "result.json").read_text())
    (run_dir.path / "result.json").write_text(json.dumps({**result, "config": old}))
    state = torch.load(run_dir.path / "checkpoint.pt", weights_only=True)
    torch.save({**state, "config": old, "result": {**state["result"], "config": old}}, run_dir.path / "checkpoint.pt")

    with pytest.warns(RenamedValueWarning, match=f"run {run_dir.run_id}: method_params.fisher_labels='true' "
                                                 "is read as 'empirical'"):
        config = RunConfig.from_dict(run_dir.config())
        assert run_dir.result().config["method_params"]["fisher_labels"] == "empirical"
        resumed = run(config, run_dir=run_dir)
    assert config == EWC and resumed.acc_taw == reference.acc_taw
    assert json.loads((run_dir.path / "config.json").read_text()) == old  # the file is left as written


def refused_naming_field_value_and_names(config: RunConfig, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.validate()
    message = str(info.value)
    assert info.value.field == "method_params.fisher_labels" and info.value.value == value
    assert message.startswith(f"method_params.fisher_labels={short_repr(value)} is not valid: ")
    assert all(name in info.value.valid for name in FISHER_LABELS)


@settings(max_examples=200, deadline=None, database=None)
@given(value=st.text(max_size=30).filter(lambda v: v not in FISHER_LABELS))
def test_any_other_name_is_refused_naming_the_field_the_value_and_the_valid_names(value):
    refused_naming_field_value_and_names(EWC.replace(method_params={"fisher_labels": value}), value)
    with pytest.raises(ConfigError, match="method_params.fisher_labels"):
        METHODS.get("ewc").checked_params({"fisher_labels": value})  # the command line's path


@settings(max_examples=100, deadline=None, database=None)
@given(value=st.text(max_size=30).filter(lambda v: v not in (*FISHER_LABELS, "exact")))
def test_a_version_1_config_with_any_other_name_is_refused_the_same_way(value):
    stored = written_in_version_1(EWC.replace(method_params={"fisher_labels": value}).to_dict())
    with no_warnings():
        config = RunConfig.from_dict(stored)
    refused_naming_field_value_and_names(config, value)
