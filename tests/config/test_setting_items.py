"""One command-line item KEY=VALUE, split in one place (labkit.config.split_setting) for --param,
--grid and --search: each refuses a bad item naming its option, the item and its own form."""
from __future__ import annotations

import pytest

from labkit.cli.config_flags import parse_params
from labkit.config import RunConfig, split_setting
from labkit.errors import ConfigError
from labkit.sweep import search
from labkit.sweep.grid import parse_grid


@pytest.mark.parametrize("item, expected", [
    ("lr=0.1", ("lr", "0.1")),
    (" param.lamb =100,1000", ("param.lamb", "100,1000")),  # KEY stripped, VALUE as written
    ("a=b=c", ("a", "b=c")),  # split at the first '='
    ("lr= 0.1", ("lr", " 0.1")),
])
def test_an_item_splits_at_its_first_equals_sign(item, expected):
    assert split_setting("grid", item, "KEY=V1,V2") == expected


@pytest.mark.parametrize("item", ["lr", "=0.1", " =0.1", "lr=", "lr=  ", ""])
def test_an_item_without_key_or_value_is_refused_naming_option_item_and_form(item):
    with pytest.raises(ConfigError) as error:
        split_setting("grid", item, "KEY=V1,V2")
    assert (error.value.field, error.value.value, error.value.valid) == ("grid", item, "KEY=V1,V2")
    assert str(error.value) == f"grid={item!r} is not valid: KEY=V1,V2"


@pytest.mark.parametrize("parse, option, form", [
    (parse_params, "param", "KEY=VALUE"),
    (parse_grid, "grid", "KEY=V1,V2,..."),
    (lambda items: search.parse_space(RunConfig(method="ewc"), items), "search", "KEY=DIST:LOW,HIGH"),
])
@pytest.mark.parametrize("item", ["lamb", "=5", "lamb="])
def test_each_option_refuses_a_bad_item_with_its_own_form(parse, option, form, item):
    with pytest.raises(ConfigError) as error:
        parse([item])
    assert (error.value.field, error.value.value) == (option, item)
    assert error.value.valid.startswith(form)


def test_each_option_reads_its_own_value_syntax_on_top():
    assert parse_params([" lamb=5000"]) == {"lamb": "5000"}  # one value, the method checks it
    assert parse_grid(["seed=0-2", "lr = 0.1,0.2"]) == {"seed": [0, 1, 2], "lr": [0.1, 0.2]}
