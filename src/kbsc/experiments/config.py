"""Experiment configuration: a YAML file validated by pydantic, plus command-line overrides.

Every problem (unknown key, wrong type, value out of range, malformed YAML) becomes ONE line naming the key
and what is allowed (:class:`kbsc.errors.ConfigError`). :func:`validate_config` (called by the runner before
it writes anything) goes further: the code opt-in for configs that import code, each system's options (asked
of the system class, nothing runs), the OFDM grid values and the dataset/extractor/index names.

A system entry may override any grid axis (channels, CSI, SNR, CBR, seeds), e.g. the authors' channel only
for ``kbsc``, and lists the MCS indices for ``hevc+ldpc``.

Example::

    dataset: {name: synthetic100}
    extractor: {name: standin}
    n_images: 1000
    snr_db: [-4, 0, 4, 10]
    cbr: ["1/24", "1/8"]
    channels: [awgn, rayleigh, {name: tdl-a, delay_spread: 300e-9, speed: 30}, cdl-c]
    csi: [perfect, ls-linear]
    systems:
      - {name: kbsc, channels: [awgn, rayleigh, authors-rayleigh]}
      - {name: hevc+ldpc, mcs: [4, 10]}

A channel entry is a name, a label ``tdl-a[speed=30]``, a mapping with the model's options, or
``{import: PATH}`` (exported realizations); each becomes its canonical label
(:mod:`kbsc.bridge.channel_spec`), which is the results' ``channel`` column. ``plugins:`` are imported
before validation (:func:`import_config_plugins`), so plug-in channels and systems validate.
"""

from __future__ import annotations

import copy
import os
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kbsc.errors import ConfigError, KbscError
from kbsc.util.hashing import hash_obj

__all__ = [
    "DatasetSpec",
    "ExperimentConfig",
    "ExtractorSpec",
    "SystemSpec",
    "TrainingSpec",
    "apply_overrides",
    "cbr_label",
    "code_modules",
    "config_hash",
    "import_config_plugins",
    "load_config",
    "parse_config",
    "validate_config",
]

MAX_CBR = 4.0


def _parse_cbr(value: Any) -> float:
    """A CBR given as a number (0.125) or a fraction string ("1/8")."""
    if isinstance(value, bool):
        raise ValueError("must be a number or a fraction like '1/24'")
    if isinstance(value, str):
        try:
            value = float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"must be a number or a fraction like '1/24', got {value!r}") from None
    if not isinstance(value, int | float):
        raise ValueError(f"must be a number or a fraction like '1/24', got {value!r}")
    value = float(value)
    if not 0.0 < value <= MAX_CBR:
        raise ValueError(f"must be in (0, {MAX_CBR:g}], got {value:g}")
    return value


Cbr = Annotated[float, BeforeValidator(_parse_cbr)]
Snr = Annotated[float, Field(ge=-50.0, le=80.0)]
Seed = Annotated[int, Field(ge=0, lt=2**31)]
Mcs = Annotated[int, Field(ge=0, le=31)]
Name = Annotated[str, Field(min_length=1)]


def _channel_entry(value: Any) -> str:
    """A YAML channel entry (name, label or mapping) → its canonical label (see the module docstring)."""
    try:
        from kbsc.bridge.channel_spec import channel_label
    except ImportError:  # pragma: no cover - the bridge is part of the package
        return value
    try:
        return channel_label(value)
    except KbscError as exc:
        raise ValueError(str(exc)) from None


Channel = Annotated[str, BeforeValidator(_channel_entry)]


def cbr_label(cbr: float) -> str:
    """'1/24' for 0.041666…, '0.3' for 0.3: the nearest simple fraction when it is exact to 1e-9."""
    frac = Fraction(cbr).limit_denominator(96)
    if abs(float(frac) - cbr) < 1e-9:
        return f"{frac.numerator}/{frac.denominator}" if frac.denominator != 1 else f"{frac.numerator}"
    return f"{cbr:g}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DatasetSpec(_Strict):
    """Which dataset the sender images and the knowledge base come from."""

    name: Name = "synthetic100"
    root: str | None = None
    split_seed: Seed = 0


class ExtractorSpec(_Strict):
    """The feature extractor shared by every system's receiver (and the KB)."""

    name: Name = "standin"
    checkpoint: str | None = None
    options: dict[str, Any] = Field(
        default_factory=dict
    )  # extractor-specific, e.g. {max_steps: 20} for a tiny stand-in


def _bridge_grid_fields() -> set[str] | None:
    """Field names of the bridge's ``GridConfig`` (None if the bridge cannot be imported)."""
    try:
        from kbsc.bridge import GridConfig  # type: ignore[attr-defined]
    except Exception:
        return None
    import dataclasses

    if dataclasses.is_dataclass(GridConfig):
        return {f.name for f in dataclasses.fields(GridConfig)}
    fields = getattr(GridConfig, "model_fields", None)
    return set(fields) if fields else None


def _bridge_names() -> tuple[set[str], set[str]] | None:
    """Channel models and CSI modes the bridge knows (None if the bridge cannot be imported)."""
    try:
        from kbsc.bridge import CHANNELS, CSI_MODES  # type: ignore[attr-defined]
    except Exception:
        return None
    return set(CHANNELS.names()), set(CSI_MODES.names())


def _check_grid(value: dict[str, Any]) -> dict[str, Any]:
    """OFDM grid settings are the bridge's ``GridConfig`` fields; empty = its defaults (DESIGN.md §2)."""
    allowed = _bridge_grid_fields()
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            names = ", ".join(sorted(allowed))
            raise ValueError(f"unknown grid setting(s) {', '.join(unknown)}; allowed: {names}")
    return value


GridSettings = Annotated[dict[str, Any], AfterValidator(_check_grid)]


class TrainingSpec(_Strict):
    """Training settings for learned systems (None = the system's own default)."""

    setting: str | None = None
    max_steps: int | None = Field(None, ge=1, le=10_000_000)  # ceiling in optimizer steps
    patience: int | None = Field(None, ge=1, le=10_000)  # validations without gain that end training
    eval_every: int | None = Field(None, ge=1, le=1_000_000)  # optimizer steps between validations


class SystemSpec(_Strict):
    """One compared system; any grid axis may be overridden for it."""

    name: Name
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    mcs: list[Mcs] | None = None
    channels: list[Channel] | None = None
    csi: list[Name] | None = None
    snr_db: list[Snr] | None = None
    cbr: list[Cbr] | None = None
    seeds: list[Seed] | None = None

    @field_validator("mcs", "channels", "csi", "snr_db", "cbr", "seeds")
    @classmethod
    def _non_empty(cls, v: list | None) -> list | None:
        if v is not None and not v:
            raise ValueError("must not be empty (leave it out to use the global list)")
        return v

    @property
    def display(self) -> str:
        """The ``system`` column of the results: ``label`` if given, else the registry name."""
        return self.label or self.name


class ExperimentConfig(_Strict):
    """A whole experiment grid."""

    name: str = "experiment"
    plugins: list[str] = Field(default_factory=list)
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    extractor: ExtractorSpec = Field(default_factory=ExtractorSpec)
    index: str = "flat"
    n_images: int = Field(1000, ge=1, le=10_000_000)
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    snr_db: list[Snr] = Field(min_length=1)
    cbr: list[Cbr] = Field(min_length=1)
    channels: list[Channel] = Field(default_factory=lambda: ["awgn"], min_length=1)
    csi: list[Name] = Field(default_factory=lambda: ["perfect"], min_length=1)
    grid: GridSettings = Field(default_factory=dict)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    systems: list[SystemSpec] = Field(min_length=1)

    @field_validator("systems")
    @classmethod
    def _unique_labels(cls, v: list[SystemSpec]) -> list[SystemSpec]:
        seen: dict[str, tuple] = {}
        for s in v:
            ident = (s.name, hash_obj(s.options))
            if seen.setdefault(s.display, ident) != ident:
                raise ValueError(
                    f"system {s.display!r} is listed twice with different name/options; "
                    "give one of them a distinct 'label'"
                )
        return v

    @model_validator(mode="after")
    def _known_channels(self) -> ExperimentConfig:
        names = _bridge_names()
        if names is None:
            return self
        from kbsc.bridge.channel_spec import check_channel

        checks = [(self.channels, self.seeds)] + [
            (s.channels or self.channels, s.seeds or self.seeds) for s in self.systems
        ]
        for value, seeds in {(c, tuple(sd)) for chans, sd in checks for c in chans}:
            try:
                check_channel(value, self.grid, seeds)
            except KbscError as exc:
                raise ValueError(str(exc)) from None
        for value in (v for lst in [self.csi] + [s.csi or [] for s in self.systems] for v in lst):
            if value not in names[1]:
                raise ValueError(f"unknown csi {value!r}; choose from: {', '.join(sorted(names[1]))}")
        return self

    def canonical(self) -> dict[str, Any]:
        """Plain, JSON-able form (floats, sorted keys when hashed): what ``config.yaml`` stores."""
        return self.model_dump(mode="json")


def config_hash(cfg: ExperimentConfig) -> str:
    return hash_obj(cfg.canonical())


# ------------------------------------------------------------------------------------ deep validation


def code_modules(cfg: ExperimentConfig) -> list[str]:
    """Modules (or ``.py`` files) that running ``cfg`` would import: its ``plugins`` and what plug-in systems
    name (``module: "path/x.py:Cls"``). Importing a module runs its code (DESIGN.md §7). Modules of the
    kbsc package itself (``kbsc.…``) are not outside code and are left out."""
    from kbsc.systems.base import SYSTEMS  # its lookups import the registering modules

    mods = list(cfg.plugins)
    for s in cfg.systems:
        if s.name in SYSTEMS:
            mods += [m for m in SYSTEMS.get(s.name).code_modules(dict(s.options)) if m not in mods]
    return [m for m in mods if not (m.startswith("kbsc.") and not m.endswith(".py") and "/" not in m)]


def check_code_allowed(cfg: ExperimentConfig, allow_code: bool) -> None:
    """Refuse (one line) a config that imports code unless the caller opted in."""
    mods = code_modules(cfg)
    if mods and not allow_code:
        raise ConfigError(
            f"this config imports and runs code ({', '.join(mods)}); run it only if you trust it, "
            "with `kbsc run CONFIG --allow-code` (Python: run_experiment(..., allow_code=True))"
        )


def validate_config(cfg: ExperimentConfig, *, allow_code: bool = False) -> None:
    """Everything that can be checked before a run starts, as one-line :class:`ConfigError`s: the code
    opt-in, plug-in imports, system names and each system's options (asked of the system class, nothing
    runs), the OFDM grid values, and the dataset/extractor/index names."""
    from kbsc.experiments.plugins import import_plugins
    from kbsc.systems.base import system_class

    check_code_allowed(cfg, allow_code)
    import_plugins(cfg.plugins)
    for i, s in enumerate(cfg.systems):
        try:
            cls = system_class(s.name)
            cls.validate_options(
                dict(s.options),
                mcs=list(s.mcs) if s.mcs is not None else None,
                training=cfg.training.model_dump(),
            )
        except ConfigError as exc:
            raise ConfigError(f"systems[{i}] ({s.display}): {exc}") from None
    if cfg.grid:
        from kbsc.bridge import GridConfig

        try:
            GridConfig(**{k: v for k, v in cfg.grid.items() if v is not None})
        except ConfigError as exc:
            raise ConfigError(f"grid: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"grid: bad setting ({exc})") from None
    _check_names(cfg)


def _check_names(cfg: ExperimentConfig) -> None:
    """Dataset, extractor and index names (a dataset from a plug-in context builder brings its own)."""
    from kbsc.experiments.context import CONTEXT_BUILDERS

    if cfg.dataset.name in CONTEXT_BUILDERS:
        return
    from kbsc.data.registry import DATASETS
    from kbsc.features.registry import EXTRACTORS
    from kbsc.kb.index import INDEXES

    for registry, name, key in (
        (DATASETS, cfg.dataset.name, "dataset.name"),
        (EXTRACTORS, cfg.extractor.name, "extractor.name"),
        (INDEXES, cfg.index, "index"),
    ):
        try:
            registry.get(name)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None


# ----------------------------------------------------------------------------------------------- errors


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for listing the allowed keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ()) or ()
        cands = [ann, *args, *(a for x in args for a in getattr(x, "__args__", ()))]
        current = next((c for c in cands if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _loc_str(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _one_line(exc: ValidationError, source: str) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    key = _loc_str(loc)
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    if err["type"] == "extra_forbidden":
        owner = _model_at(ExperimentConfig, loc[:-1])
        allowed = ", ".join(owner.model_fields) if owner else "?"
        return ConfigError(f"{source}: unknown key {key!r}; allowed here: {allowed}{more}")
    if err["type"] == "missing":
        return ConfigError(f"{source}: key {key!r} is required{more}")
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not loc:
        return ConfigError(f"{source}: {msg}{more}")
    given = err.get("input")
    given_s = (
        repr(given) if not isinstance(given, dict | list) or len(repr(given)) < 60 else type(given).__name__
    )
    return ConfigError(f"{source}: key {key!r}: {msg} (got {given_s}){more}")


def import_config_plugins(data: dict[str, Any], source: str = "config") -> None:
    """Import the modules of the config's ``plugins:`` list BEFORE validation, so the channels and systems
    they register are known. This runs code: the one place a config imports modules."""
    plugins = data.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise ConfigError(f"{source}: key 'plugins': must be a list of module names (got {plugins!r})")
    from kbsc.experiments.plugins import import_plugins

    import_plugins(plugins)


def parse_config(data: Any, source: str = "config") -> ExperimentConfig:
    """Validate a mapping into an :class:`ExperimentConfig` (one-line :class:`ConfigError` otherwise)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, got {type(data).__name__}")
    import_config_plugins(data, source)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, source) from None


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def resolve_config_path(name: str | os.PathLike[str]) -> Path:
    """A path, or a preset name (``quick``, ``paper``) looked up in the repository's ``experiments/``."""
    path = Path(name)
    if path.exists():
        return path
    if path.suffix == "" and path.parent == Path("."):
        for root in (Path.cwd() / "experiments", Path(__file__).resolve().parents[3] / "experiments"):
            cand = root / f"{path.name}.yaml"
            if cand.exists():
                return cand
    raise ConfigError(f"config {str(name)!r} not found (give a YAML path or a preset: quick, paper)")


def load_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML config (or preset name), apply ``key=value`` overrides, validate."""
    p = resolve_config_path(path)
    data = _read_yaml(p)
    if data is None:
        data = {}
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_config(data, source=str(p))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["snr_db=[0,10]", "dataset.root=/x", "systems[0].options.max_steps=300"]`` → a new mapping.

    Values are parsed as YAML (``[0, 10]``, ``1/24`` stays a string, ``null``).
    ``systems[i]`` or ``systems.i`` index into lists.
    """
    out = copy.deepcopy(data) if isinstance(data, dict) else {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. snr_db=[0,10])")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"override {item!r}: the value is not valid YAML") from None
        parts = [p for p in key.replace("[", ".").replace("]", "").split(".") if p]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {key!r}: index {part!r} is not in a list of {len(node)}")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if not isinstance(node.get(part), dict | list):
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(f"override {key!r}: {'.'.join(parts[:i])!r} is not a mapping or list")
    return out
