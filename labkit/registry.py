"""Name -> object registries, so the command line, the app and notebooks can walk the grid
of datasets x scenarios x backbones x methods x losses by name (timm's register/list style)."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """Bad input: the message names the field, the value given and what would be valid."""

    def __init__(self, field: str, value: object, valid: str):
        self.field, self.value, self.valid = field, value, valid
        super().__init__(f"{field}={value!r} is not valid: {valid}")


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


class Registry(Generic[T]):
    """A named collection of entries with a short description each.

    >>> losses = Registry("loss")
    >>> @losses.register("ce", "softmax cross-entropy")
    ... def ce(): ...
    >>> losses.names()
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
        if name not in self._entries:
            raise ConfigError(self.field, name, f"choose one of {', '.join(self.names())}")
        return self._entries[name]

    def doc(self, name: str) -> str:
        self.get(name)
        return self._docs[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
