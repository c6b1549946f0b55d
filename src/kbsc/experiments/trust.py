"""The code opt-in: which config keys import modules or run executables (docs/design.md §7, docs/security.md).

A config is data until it names code. :func:`code_entries` walks the *raw* mapping (as read from YAML, after
``--set`` overrides, before anything is imported or validated) and lists every entry that would import a
module or execute a program; :func:`check_code_allowed` refuses them in one line unless the caller opted in
(``--allow-code``, ``allow_code=True``). Nothing here imports outside code or starts a process.

The keys (the schema test ``tests/unit/test_trust_code_keys.py`` walks every config key and every system's
and codec's options and fails when a new key is neither listed here nor reviewed as data):

* ``plugins`` — every module of the list is imported (its top-level code runs).
* ``module`` (anywhere, e.g. ``systems[i].options.module`` of the ``plugin`` system) — ``pkg.mod:Class`` or
  ``file.py:Class``, imported.
* ``bpgenc``, ``bpgdec`` (anywhere, e.g. ``systems[i].options.codec_options``) — executables run by the
  ``bpg`` codec. The standard name alone (``bpgenc``), found on ``PATH``, is allowed without the opt-in.

Modules of the kbsc package itself (``kbsc.…``, no path) are not outside code and need no opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kbsc.errors import ConfigError

__all__ = ["CODE_KEYS", "EXECUTABLE_KEYS", "CodeEntry", "check_code_allowed", "code_entries"]

#: keys whose value names modules that are imported (a string or a list of strings)
CODE_KEYS: dict[str, str] = {
    "plugins": "modules imported before validation (they register systems, channels, datasets)",
    "module": "a plug-in model 'pkg.mod:Class' or 'file.py:Class', imported",
}
#: keys whose value names an executable that is run → the standard name allowed from PATH
EXECUTABLE_KEYS: dict[str, str] = {"bpgenc": "bpgenc", "bpgdec": "bpgdec"}


@dataclass(frozen=True)
class CodeEntry:
    """One config entry that is code: where it is (``systems[0].options.module``) and what it names."""

    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


def _is_own_module(name: str) -> bool:
    return name.startswith("kbsc.") and "/" not in name and "\\" not in name and not name.endswith(".py")


def _path(parent: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{parent}[{part}]"
    return f"{parent}.{part}" if parent else str(part)


def code_entries(data: Any) -> list[CodeEntry]:
    """Every entry of a raw config mapping that imports a module or runs an executable (see the module
    docstring), in document order. Walks iteratively (no recursion limit) over mappings and lists."""
    found: list[CodeEntry] = []
    stack: list[tuple[str, Any]] = [("", data)]
    seen: set[int] = set()
    while stack:
        where, node = stack.pop()
        if id(node) in seen:  # YAML aliases share objects; each is looked at once
            continue
        if isinstance(node, dict | list):
            seen.add(id(node))
        if isinstance(node, dict):
            items = list(node.items())
            for key, value in items:
                here = _path(where, str(key))
                if key in CODE_KEYS:
                    values = value if isinstance(value, list) else [value]
                    for i, v in enumerate(values):
                        if v is None or (isinstance(v, str) and _is_own_module(v.rpartition(":")[0] or v)):
                            continue
                        at = f"{here}[{i}]" if isinstance(value, list) else here
                        found.append(CodeEntry(at, str(v)))
                elif key in EXECUTABLE_KEYS and value is not None and value != EXECUTABLE_KEYS[key]:
                    found.append(CodeEntry(here, str(value)))
            stack.extend((_path(where, str(k)), v) for k, v in reversed(items))
        elif isinstance(node, list):
            stack.extend((_path(where, i), v) for i, v in reversed(list(enumerate(node))))
    return found


def check_code_allowed(data: Any, allow_code: bool, source: str = "config") -> None:
    """Refuse (one-line :class:`ConfigError` naming the keys) a raw config that names code, unless
    ``allow_code``. Call it before anything from the config is imported or executed."""
    if allow_code:
        return
    entries = code_entries(data)
    if entries:
        shown = ", ".join(str(e) for e in entries[:4])
        if len(entries) > 4:
            shown += f" and {len(entries) - 4} more"
        raise ConfigError(
            f"{source}: this config imports or runs code ({shown}); run it only if you trust it, "
            "with --allow-code (Python: allow_code=True); see docs/security.md"
        )
