"""Comma-separated lists typed on the command line (`table --methods lwf,ewc --seeds 0,1,2`),
read into checked values: every item present (no empty ones), each at most once, seeds whole
numbers within numpy's range, names registered. Bad input is a ConfigError naming the option.

Numbers are ASCII digits only, here and in the options' own types (whole_number, real_number):
int() and float() also read other scripts' digits ('١' is 1) and str.isdigit() accepts '²',
which int() then refuses with a traceback."""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from labkit.config import SEED_MAX
from labkit.errors import ConfigError
from labkit.registry import Registry

DIGITS = re.compile(r"[0-9]{1,100}")
WHOLE = re.compile(r"[+-]?[0-9]{1,100}")


def whole_number(text: str) -> int:
    """An option's whole number ('3', '-1': its command checks the range) in ASCII digits;
    argparse reports anything else as the option's error."""
    if not WHOLE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number in ASCII digits, e.g. 3")
    return int(text.strip())


def real_number(text: str) -> float:
    """An option's number ('0.05', '1e-3') in ASCII characters; argparse reports anything else."""
    try:
        if not text.isascii():
            raise ValueError(text)
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in ASCII digits, e.g. 0.05") from None


def split_items(text: str, field: str, example: str) -> list[str]:
    """The comma-separated items of `text`, stripped; refused when empty, with an empty item
    ("1,,2", "1,") or with an item repeated."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or "" in items:
        raise ConfigError(field, text, f"a comma-separated list with no empty item, e.g. {example}")
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise ConfigError(field, text, f"each item once; {', '.join(repeated)} is repeated")
    return items


def parse_seeds(text: str, field: str = "seeds") -> list[int]:
    """'0,1,2' -> [0, 1, 2]; each seed a whole number in 0 .. 2**32 - 1 (numpy's range)."""
    seeds = []
    for item in split_items(text, field, "0,1,2"):
        seed = int(item) if DIGITS.fullmatch(item) else None
        if seed is None or not 0 <= seed <= SEED_MAX:
            raise ConfigError(field, item, f"comma-separated whole numbers from 0 to {SEED_MAX}, e.g. 0,1,2")
        seeds.append(seed)
    return seeds


def parse_names(text: str, registry: Registry, field: str) -> list[str]:
    """'lwf,ewc' -> ['lwf', 'ewc'], each a name registered in `registry`."""
    names = split_items(text, field, ",".join(registry.names()[:2]))
    for name in names:
        if name not in registry:
            raise ConfigError(field, name, f"comma-separated names from: {', '.join(registry.names())}")
    return names


def check_csv(path: Path | None) -> None:
    """--csv: a file (not a folder) in an existing folder this process can write, checked before
    anything runs (a sweep's table is written after the whole sweep)."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError("csv", str(path), "a file to write the table to: this is a folder")
    if not folder.is_dir():
        raise ConfigError("csv", str(path), f"a file in an existing folder: {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError("csv", str(path), f"a file this process may write: {path if path.exists() else folder} "
                          "is not writable")
