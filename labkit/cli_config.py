"""A RunConfig from command-line flags: --preset, one flag per RunConfig field, --param KEY=VALUE,
and the training defaults (labkit.recipes) for the fields neither sets. Shared by `run`, `table`
and `sweep`."""
from __future__ import annotations

import argparse
import dataclasses

from labkit import recipes
from labkit.config import RunConfig
from labkit.presets import PRESETS
from labkit.registry import ConfigError, parse_bool

CONFIG_FIELDS = [f for f in dataclasses.fields(RunConfig) if f.name != "method_params"]


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """--preset, one option per RunConfig field, and --param KEY=VALUE for method parameters."""
    parser.add_argument("--preset", help=f"start from a named config: {', '.join(PRESETS)}")
    for f in CONFIG_FIELDS:
        kind = parse_bool if isinstance(f.default, bool) else type(f.default)
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None,
                            help=f"default {f.default}")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method hyper-parameter (see `list`); repeat for several")


def given_fields(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in CONFIG_FIELDS if getattr(args, f.name) is not None}


def config_from(args: argparse.Namespace) -> RunConfig:
    """The preset (or RunConfig's defaults); in the fields the preset leaves at their defaults, the
    training defaults of the chosen method, loss and backbone (labkit.recipes: e.g. Adam for mse);
    then every field given on the command line, each on its own."""
    given = given_fields(args)
    base = PRESETS.get(args.preset) if args.preset else RunConfig()
    chosen = base.replace(**given)
    defaults = recipes.training_defaults(chosen.method, chosen.loss, chosen.backbone)
    config = recipes.fill_unset(base, defaults).replace(**given)
    return config.replace(method_params=parse_params(args.param)) if args.param else config


def parse_params(items: list[str]) -> dict[str, str]:
    """--param KEY=VALUE items -> {KEY: VALUE}; each KEY once (the method checks the values)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("param", item, "KEY=VALUE, e.g. --param lamb=5000")
        if key in out:
            raise ConfigError("param", item, f"each KEY once: {key} is given twice")
        out[key] = value
    return out
