"""Channel specifications: a channel name with options, or a file of exported realizations, as ONE label.

The label is what the results table's ``channel`` column, the grid cells and the systems carry, so options
reach every system's bridge, training and the fingerprint without another column:

* ``tdl-a``: a registered channel with its default options;
* ``tdl-a[delay_spread=3e-07,speed=30]``: with options (keys sorted, numbers in their shortest form, integral
  floats without ``.0``); any option of the model, e.g. ``cdl-c[direction=uplink,speed=3]``;
* ``import:PATH``: the realizations exported to ``PATH`` (``Bridge.export``), e.g. by another kbsc run or an
  outside tool; evaluation transmits from the file (its seed, image ids and k must match the cell's).

In a YAML config an entry is a name, a label, or a mapping: ``{name: tdl-a, delay_spread: 100e-9, speed: 3}``
or ``{import: runs/cdl.npz}``; :func:`channel_label` turns each into its canonical label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kbsc.bridge.channels import CHANNELS
from kbsc.bridge.grid import GridConfig
from kbsc.errors import ConfigError

__all__ = ["IMPORT_PREFIX", "ChannelSpec", "channel_label", "channel_slug", "check_channel", "parse_channel"]

IMPORT_PREFIX = "import:"
_LABEL = re.compile(r"^(?P<name>[^\[\]=,\s]+)(?:\[(?P<opts>[^\[\]]*)\])?$")
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.+\-/]+$")


@dataclass(frozen=True)
class ChannelSpec:
    """A parsed channel label: ``name`` and ``options``, or ``import_path`` for imported realizations."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    import_path: str | None = None

    @property
    def label(self) -> str:
        if self.import_path is not None:
            return IMPORT_PREFIX + self.import_path
        return self.name + (
            f"[{','.join(f'{k}={_fmt(k, v)}' for k, v in sorted(self.options.items()))}]"
            if self.options
            else ""
        )


def _fmt(key: str, v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"channel option {key} must be finite, got {v}")
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, str) and _SAFE_TEXT.match(v):
        return v
    raise ConfigError(
        f"channel option {key} must be a number, true/false or a plain word (letters, digits, _ . + - /), "
        f"got {v!r}"
    )


def _value(key: str, raw: str) -> Any:
    try:
        v = yaml.safe_load(raw)
    except yaml.YAMLError:
        v = raw
    if isinstance(v, str) and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)", v.strip()):
        v = float(v)  # YAML 1.1 reads 1e-07 (no dot) as a string
    _fmt(key, v)  # type check
    return v


def parse_channel(label: str) -> ChannelSpec:
    """The :class:`ChannelSpec` of a label (see the module docstring); one-line ConfigError if malformed."""
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"a channel must be a non-empty name, got {label!r}")
    label = label.strip()
    if label.startswith(IMPORT_PREFIX):
        path = label[len(IMPORT_PREFIX) :].strip()
        if not path:
            raise ConfigError("channel 'import:' needs a file path, e.g. import:runs/cdl.npz")
        return ChannelSpec(name="import", import_path=path)
    m = _LABEL.match(label)
    if m is None:
        raise ConfigError(f"channel {label!r} is not a name or name[key=value,...]")
    options: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in (m["opts"] or "").split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"channel {label!r}: option {item!r} must look like key=value")
        if key in options:
            raise ConfigError(f"channel {label!r}: option {key} given twice")
        options[key] = _value(key, raw.strip())
    return ChannelSpec(name=m["name"], options=options)


def channel_label(entry: Any, **extra_options: Any) -> str:
    """Canonical label of a YAML/CLI channel entry (a label string or a mapping), with ``extra_options``
    (e.g. from ``kbsc ber --speed``) added; an option given twice is an error."""
    if isinstance(entry, dict):
        entry = dict(entry)
        if "import" in entry:
            if len(entry) != 1 or not isinstance(entry["import"], str):
                raise ConfigError(f"an imported channel is {{import: PATH}} alone, got {entry!r}")
            spec = ChannelSpec(name="import", import_path=entry["import"])
        else:
            name = entry.pop("name", None)
            if not isinstance(name, str) or not name:
                raise ConfigError(f"a channel mapping needs 'name' (or 'import'), got keys {sorted(entry)}")
            for key in entry:
                if not str(key).isidentifier():
                    raise ConfigError(f"channel {name!r}: option name {key!r} is not an identifier")
                _fmt(str(key), entry[key])
            spec = ChannelSpec(name=name, options={str(k): v for k, v in entry.items()})
    else:
        spec = parse_channel(entry)
    if extra_options:
        if spec.import_path is not None:
            raise ConfigError("channel options do not apply to imported realizations")
        both = sorted(set(spec.options) & set(extra_options))
        if both:
            raise ConfigError(f"channel {spec.name!r}: option(s) {', '.join(both)} given twice")
        for k, v in extra_options.items():
            _fmt(k, v)
        spec = ChannelSpec(spec.name, {**spec.options, **extra_options})
    return parse_channel(spec.label).label  # round trip: the label parses back to itself


def check_channel(label: str, grid: Any = None, seeds: Any = None) -> str:
    """Validate a channel label against the registry, the model's options and (for ``import:``) the file,
    the grid and the grid's ``seeds``; returns the canonical label. One-line ConfigError/DataError
    otherwise."""

    spec = parse_channel(label)
    rg = GridConfig.from_mapping(grid).build()
    if spec.import_path is not None:
        from kbsc.bridge.export import load_realizations  # lazy: only this path needs it

        rec = load_realizations(spec.import_path)
        rec.check_grid(rg, f"channel {spec.label!r}")
        other = sorted({int(s) for s in (seeds or [])} - {int(rec.config.get("seed", -1))})
        if other:
            raise ConfigError(
                f"channel {spec.label!r} holds the realizations of seed {rec.config.get('seed')}; "
                f"the grid also asks for seed(s) {', '.join(map(str, other))}"
            )
        return spec.label
    if spec.name not in CHANNELS:
        raise ConfigError(f"unknown channel {spec.name!r}; choose from: {', '.join(CHANNELS.names())}")
    try:
        CHANNELS.get(spec.name)(rg, **spec.options)
    except TypeError as exc:
        raise ConfigError(f"channel {spec.name!r}: bad option(s): {exc}") from None
    return spec.label


def channel_slug(label: str) -> str:
    """A file-name-safe form of a label (checkpoint folders): ``tdl-a_speed=30_``, ``import-cdl.npz``."""
    spec = parse_channel(label)
    text = "import-" + Path(spec.import_path).name if spec.import_path is not None else spec.label
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", text)[:80]
