"""Old module paths of modules that moved, kept importable for one release with a ``DeprecationWarning``.

Plug-ins and configs that name a module by its old path (``kbsc.baselines.link``, ``kbsc.experiments.bench``,
...) get the module at its new home: the same module object, so registries and ``isinstance`` checks agree.
A package that moved (``kbsc.baselines.ldpc``) maps its submodules too. Installed by ``kbsc/__init__.py``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

#: old dotted path → new dotted path (0.1.0 → 0.2.0)
MOVED: dict[str, str] = {
    "kbsc.cli_args": "kbsc.cli.args",
    "kbsc.data.commands": "kbsc.cli.data",
    "kbsc.bridge.commands": "kbsc.cli.bridge",
    "kbsc.baselines.commands": "kbsc.cli.baselines",
    "kbsc.semantic.commands": "kbsc.cli.semantic",
    "kbsc.jscc.commands": "kbsc.cli.jscc",
    "kbsc.experiments.commands": "kbsc.cli.experiments",
    "kbsc.training.commands": "kbsc.cli.models",
    "kbsc.baselines.ldpc.bench": "kbsc.tools.ldpc_bench",
    "kbsc.baselines.ldpc": "kbsc.nrlink.ldpc",
    "kbsc.baselines.tb_encoder": "kbsc.nrlink.tb_encoder",
    "kbsc.baselines.link": "kbsc.nrlink.link",
    "kbsc.baselines.mcs": "kbsc.nrlink.mcs",
    "kbsc.baselines.capacity": "kbsc.nrlink.capacity",
    "kbsc.baselines.amc_calibration": "kbsc.nrlink.amc_calibration",
    "kbsc.baselines.metrics": "kbsc.metrics.image",
    "kbsc.kb.metrics": "kbsc.metrics.retrieval",
    "kbsc.experiments.bench": "kbsc.tools.bench",
    "kbsc.experiments.estimate": "kbsc.tools.estimate",
    "kbsc.experiments.readme_block": "kbsc.tools.readme_block",
    "kbsc.experiments.feature_cost": "kbsc.tools.feature_cost",
    "kbsc.training.speed": "kbsc.tools.train_speed",
    "kbsc.baselines.bench": "kbsc.tools.link_bench",
    "kbsc.bridge.bench": "kbsc.tools.bridge_bench",
}


def new_name(old: str) -> str | None:
    """The current path of module ``old``; None when it did not move (``a.b.c`` follows a moved ``a.b``)."""
    if old in MOVED:
        return MOVED[old]
    head, _, tail = old.rpartition(".")
    while head:
        if head in MOVED:
            return f"{MOVED[head]}.{tail}"
        head, _, rest = head.rpartition(".")
        tail = f"{rest}.{tail}"
    return None


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module already imported under its new one."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target}; the old path goes away in the next release",
            DeprecationWarning,
            stacklevel=3,
        )
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:  # the module is the moved one, already executed
        return None


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths of :data:`MOVED` (and their submodules)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None):  # noqa: ANN201
        if not fullname.startswith("kbsc."):
            return None
        new = new_name(fullname)
        if new is None:
            return None
        real = importlib.util.find_spec(new)
        if real is None:
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _Alias(new), is_package=real.submodule_search_locations is not None
        )


def install() -> None:
    """Put :class:`MovedFinder` first on ``sys.meta_path``, once."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())  # before PathFinder: a moved package's submodules too
