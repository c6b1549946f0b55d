"""Lazy re-exports for package ``__init__`` files (PEP 562), so that importing a package stays cheap.

A package lists which of its modules provide which public names; a name's module is imported on first
access (``from kbsc.experiments import run_experiment`` still works) and the value is then cached in the
package namespace. Importing ``kbsc.cli.experiments`` thus no longer imports torch, pandas or
matplotlib through the package ``__init__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, given ``{module: (name, ...)}``.

    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"kbsc.util.io": ("read_json",)})
    ... # doctest: +SKIP
    """
    where = {name: module for module, names in exports.items() for name in names}
    if len(where) != sum(len(names) for names in exports.values()):
        raise ValueError(f"{package}: a name is exported by two modules")
    shadowed = sorted(n for n in where if f"{package}.{n}" in exports)
    if shadowed:  # importing the submodule would bind the package attribute to the module instead
        raise ValueError(f"{package}: {', '.join(shadowed)} is also a module name; import it eagerly")

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__, sorted(where)
