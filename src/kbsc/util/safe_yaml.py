"""Bounded YAML for configs (docs/design.md §7, docs/security.md): a safe loader with limits, one-line errors.

PyYAML's ``safe_load`` runs no code, but it is unbounded: seven nested alias levels of ten (476 bytes)
expand to 10**7 values in whatever walks the result next (validation, hashing), and 20,000 nested ``[``
overflow its recursive composer. :func:`load_yaml` refuses, each in one :class:`ConfigError` line:

* text over :data:`MAX_BYTES`, or bytes that are not UTF-8;
* nesting deeper than :data:`MAX_DEPTH` (counted on the event stream, before anything recursive runs);
* more than :data:`MAX_NODES` values once every alias is expanded (counted on the node graph, shared nodes
  once each, so the count itself is cheap), and self-referencing aliases;
* a key given twice in one mapping (PyYAML keeps the last one silently);
* anything PyYAML's safe loader refuses (tags, malformed text), with the line and column.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from kbsc.errors import ConfigError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml", "load_yaml_file"]

MAX_BYTES = 1 << 20  # 1 MiB of config text
MAX_DEPTH = 64  # nested mappings/lists
MAX_NODES = 200_000  # values after alias expansion (the paper preset has about 200)

_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # unhashable: the base class says so
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (each key may appear once)", key_node.start_mark
                    )
        return super().construct_mapping(node, deep=deep)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_expanded_size(root: Node, source: str) -> int:
    """Values in the document with aliases expanded (iterative, memoised per node); refuse past the limit."""
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if not done:
            if key in size:
                continue
            if key in open_:
                raise ConfigError(f"{source}: an alias refers to the mapping or list that contains it")
            open_.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if id(c) not in size)
        else:
            open_.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_NODES:
                raise ConfigError(
                    f"{source}: the YAML expands to more than {MAX_NODES:,} values (aliases repeat what they "
                    "name); write the config out instead"
                )
            size[key] = total
    return size[id(root)]


def _check_depth(text: str, source: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):  # the parser is a state machine: no recursion
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels (line {line})")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def _yaml_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["malformed YAML"])[0]
    return ConfigError(f"{source}: not valid YAML{where}: {' '.join(str(problem).split())}")


def load_yaml(text: str, source: str = "config") -> Any:
    """Parse YAML ``text`` within the limits of the module docstring; one-line ConfigError otherwise."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: longer than {MAX_BYTES // 1024} KiB; a config is a short text file")
    try:
        _check_depth(text, source)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expanded_size(node, source)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise ConfigError(f"{source}: nested too deeply") from None


def load_yaml_file(path: Any, source: str | None = None) -> Any:
    """Read and parse a YAML file: missing, unreadable, too large or not UTF-8 are one-line ConfigErrors."""
    from pathlib import Path

    p = Path(path)
    name = source or str(p)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{name}: longer than {MAX_BYTES // 1024} KiB; a config is a short text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    return load_yaml(text, name)
