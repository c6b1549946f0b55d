"""Name → implementation registries, so a new codec, channel or system is a new file, not an edit."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from kbsc.errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """`` (did you mean 'x' or 'y'?)`` for the known names closest to ``name`` (difflib), else ``""``."""
    close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


class Registry(Generic[T]):
    """A named table of factories (classes or functions).

    ``modules`` names modules that register entries; they are imported on the first lookup, so that the
    table is complete however it was reached, without importing them when the registry module is imported.

    >>> CODECS: Registry[type] = Registry("image codec")
    >>> @CODECS.register("jpeg")
    ... class Jpeg: ...
    >>> CODECS.get("jpeg") is Jpeg
    True
    >>> CODECS.get("jepg")
    Traceback (most recent call last):
    ...
    kbsc.errors.ConfigError: unknown image codec 'jepg' (did you mean 'jpeg'?); choose one of: jpeg
    """

    def __init__(self, kind: str, modules: Sequence[str] = ()) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._modules = tuple(modules)
        self._loaded = not self._modules

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first, so that a registering module's own lookups do not recurse
            for mod in self._modules:
                importlib.import_module(mod)

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """The one-line error for an unknown ``name``, with the closest known names as a suggestion."""
        known = self.names()
        hint = did_you_mean(name, known)
        return f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(known) or '(none)'}"

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
