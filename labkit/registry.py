"""Name -> object registries, so the command line, the app and notebooks can walk the grid
of datasets x scenarios x backbones x methods x losses by name (timm's register/list style);
and the bad-input primitives they share: parse_bool, check_number (each refusing with a
labkit.errors.ConfigError); and RenamedValueWarning, what reading a value stored under an older
name says."""
from __future__ import annotations

import math
from typing import Callable, Generic, Iterator, TypeVar

from labkit.errors import ConfigError

T = TypeVar("T")


class RenamedValueWarning(UserWarning):
    """A stored value was written under a name labkit has since changed; the message says what it
    was read as."""


def parse_bool(value: object) -> bool:
    """True/False from a bool or from the strings 1/0, true/false, yes/no (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value: use true or false")


def check_number(field: str, value: object, *, integer: bool = False, ge: float | None = None,
                 gt: float | None = None, le: float | None = None, lt: float | None = None) -> int | float:
    """`value` if it is an int or float (an int when `integer`; never a bool), finite as a float
    (no NaN, no inf, no int beyond float's range) and within every bound given:
    value >= ge, value > gt, value <= le, value < lt. Else ConfigError naming the range."""
    kinds = int if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and (integer or _finite(value))
    ok = ok and ((ge is None or value >= ge) and (gt is None or value > gt)
                 and (le is None or value <= le) and (lt is None or value < lt))
    if not ok:
        raise ConfigError(field, value, describe_number(integer, ge=ge, gt=gt, le=le, lt=lt))
    return value


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond float's range
        return False


def describe_number(integer: bool, **bounds: float | None) -> str:
    """'a whole number >= 1 and <= 10000', 'a finite number > 0': what check_number accepts."""
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    limits = [f"{signs[name]} {bound:g}" if isinstance(bound, float) else f"{signs[name]} {bound}"
              for name, bound in bounds.items() if bound is not None]
    return ("a whole number" if integer else "a finite number") + (" " + " and ".join(limits) if limits else "")


class Registry(Generic[T]):
    """A named collection of entries with a short description each.

    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("ce", "softmax cross-entropy")
    ... def ce(): ...
    >>> LOSSES.names()
    ['ce']
    """

    def __init__(self, field: str):
        self.field = field
        self._entries: dict[str, T] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str, doc: str = "", replace: bool = False) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries and not replace:
                raise KeyError(f"{self.field} {name!r} is registered twice")
            self._entries[name] = entry
            self._docs[name] = doc
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self:
            raise ConfigError(self.field, name, f"choose one of {', '.join(self.names())}")
        return self._entries[name]

    def doc(self, name: str) -> str:
        self.get(name)
        return self._docs[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
