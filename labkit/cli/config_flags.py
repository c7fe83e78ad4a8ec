"""A RunConfig from command-line flags: --preset, --config FILE, one flag per RunConfig field,
--param KEY=VALUE, and the recipes (labkit.protocols.recipes) for the fields none of them sets; the preset
first, then the file, then the flags. Shared by `run`, `sweep`, `table` and `tune`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from labkit.cli.option_values import real_number, whole_number
from labkit.config import DEVICES, OPTIMIZERS, RunConfig, split_setting, with_current_names
from labkit.data import DATASETS, SCENARIOS
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.models import BACKBONES
from labkit.protocols import recipes
from labkit.protocols.presets import PRESETS
from labkit.errors import ConfigError
from labkit.registry import parse_bool

CONFIG_FIELDS = [f for f in dataclasses.fields(RunConfig) if f.name != "method_params"]
# the fields whose valid values are names; their --help lists them
CHOICES = {"dataset": DATASETS, "scenario": SCENARIOS, "method": METHODS, "loss": LOSSES, "backbone": BACKBONES,
           "optimizer": OPTIMIZERS, "device": DEVICES}
CONFIG_SUFFIXES = (".json", ".toml")


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """--preset, --config, one option per RunConfig field, and --param KEY=VALUE for method parameters."""
    parser.add_argument("--preset", help=f"start from a named config, one of: {', '.join(PRESETS)}")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="RunConfig fields from a .json or .toml file (a stored run's config.json repeats that "
                             "run), over the preset; the other options override it")
    for f in CONFIG_FIELDS:
        kind = parse_bool if isinstance(f.default, bool) else {int: whole_number, float: real_number}.get(
            type(f.default), type(f.default))
        names = f"one of: {', '.join(CHOICES[f.name])}; " if f.name in CHOICES else ""
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None,
                            help=f"{names}default {f.default}")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method hyper-parameter (see `list`); repeat for several")


def given_fields(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in CONFIG_FIELDS if getattr(args, f.name) is not None}


def config_from(args: argparse.Namespace) -> RunConfig:
    """The preset (or RunConfig's defaults), then the --config file's fields, then every field given
    as a flag (--param KEY=VALUE over the file's method_params); in the fields none of them sets,
    the recipes of the chosen method, loss and backbone (labkit.protocols.recipes.fill_from_recipes). When
    the config is valid and a recipe filled something, one line on stderr says what and whose.
    A bad file, or a bad value from it, is refused naming the file; the other checks are the
    commands' own (a sweep's grid may still make its base valid)."""
    base = PRESETS.get(args.preset) if args.preset else RunConfig()
    from_file = read_config_file(args.config) if args.config else {}
    flags = given_fields(args)
    if args.param:
        file_params = from_file.get("method_params")
        flags["method_params"] = {**(file_params if isinstance(file_params, dict) else {}), **parse_params(args.param)}
    file_only = set(from_file) - set(flags)
    try:
        config, sources = recipes.fill_from_recipes(base, {**from_file, **flags})
    except ConfigError as error:
        raise naming_the_file(error, args.config, file_only) from None
    try:
        config.validate()
    except ConfigError as error:
        named = naming_the_file(error, args.config, file_only)
        if named is not error:
            raise named from None
        return config  # the command's own checks report it (a sweep's grid may still make its base valid)
    if sources:
        print(f"from the recipes: {recipes.sources_text(sources)}", file=sys.stderr)
    return config


def read_config_file(path: Path) -> dict[str, Any]:
    """The RunConfig fields a .json or .toml file holds (an object of field -> value, e.g. a stored
    run's config.json); ConfigError naming `config` and the path when it is missing, unreadable,
    not such an object, or names a field RunConfig does not have. The values are checked with
    the whole config."""
    if path.suffix not in CONFIG_SUFFIXES:
        raise ConfigError("config", str(path), "a .json or .toml file of RunConfig fields")
    try:
        text = path.read_bytes().decode("utf-8")
        fields = json.loads(text) if path.suffix == ".json" else _toml(text)
    except FileNotFoundError:
        raise ConfigError("config", str(path), "an existing .json or .toml file: there is no such file") from None
    except (OSError, ValueError, RecursionError) as error:  # unreadable, not UTF-8, not JSON/TOML, nested too deep
        raise ConfigError("config", str(path), f"a readable {path.suffix} file of RunConfig fields "
                                               f"({type(error).__name__}: {error})") from None
    if not isinstance(fields, dict):
        raise ConfigError("config", str(path), f"an object of RunConfig fields, not a {type(fields).__name__}")
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError("config", str(path), f"{unknown[0]!r} is not a RunConfig field; fields are "
                                               f"{', '.join(sorted(known))}")
    # a file without config_version was written in version 1's names (a stored config.json of an older run)
    return with_current_names(fields, where=f"the config file {path}")


def naming_the_file(error: ConfigError, path: Path | None, file_only: set[str]) -> ConfigError:
    """`error` restated to say it came from the config file `path`, when the field it names (its
    part before a dot: method_params.lamb) was set by that file and no flag; else `error`."""
    if error.field.split(".")[0] not in file_only:
        return error
    return ConfigError(error.field, error.value, f"{error.valid} (from the config file {path})")


def _toml(text: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ValueError("reading TOML needs Python 3.11's tomllib: use a .json file") from None
    return tomllib.loads(text)


def parse_params(items: list[str]) -> dict[str, str]:
    """--param KEY=VALUE items -> {KEY: VALUE} (labkit.config.split_setting); each KEY once (the
    method checks the values)."""
    out = {}
    for item in items:
        key, value = split_setting("param", item, "KEY=VALUE, e.g. --param lamb=5000")
        if key in out:
            raise ConfigError("param", item, f"each KEY once: {key} is given twice")
        out[key] = value
    return out
