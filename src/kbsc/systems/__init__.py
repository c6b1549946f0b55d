"""kbsc.systems: the contract between the grid runner and the compared systems.

A system (``semantic/``, ``baselines/``, ``jscc/`` or a plug-in) implements :class:`System` and registers in
:data:`SYSTEMS`; the runner (``experiments/``) builds :class:`Cell` and :class:`EvalContext` and collects
:class:`Outcomes`. Both sides import this package, neither imports the other.
"""

from kbsc.systems.base import (
    SYSTEM_MODULES,
    SYSTEMS,
    Cell,
    EvalContext,
    Outcomes,
    System,
    get_system,
    system_class,
    system_names,
)

__all__ = [
    "SYSTEMS",
    "SYSTEM_MODULES",
    "Cell",
    "EvalContext",
    "Outcomes",
    "System",
    "get_system",
    "system_class",
    "system_names",
]
