"""Importing a config's plug-in modules (``plugins:``), which register extra systems, channels or datasets.

This runs code: callers check the ``--allow-code`` opt-in first
(:func:`kbsc.experiments.config.check_code_allowed`).
Its own module so that both the config loader and the grid workers can use it without importing each other.
"""

from __future__ import annotations

import importlib

from kbsc.errors import ConfigError

__all__ = ["import_plugins"]


def import_plugins(plugins: list[str]) -> None:
    """Import modules that register extra systems or context builders."""
    for mod in plugins:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:
                raise ConfigError(
                    f"plugin module {mod!r} not found; check 'plugins' and PYTHONPATH"
                ) from None
            raise
