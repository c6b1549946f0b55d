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
before validation (:func:`import_config_plugins`), so plug-in channels and systems validate, and only
after the code opt-in (:mod:`kbsc.experiments.trust`) has been checked on the raw mapping.
"""

from __future__ import annotations

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

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

from kbsc.bridge.channel_spec import check_channel
from kbsc.data.registry import DATASETS
from kbsc.errors import ConfigError, KbscError
from kbsc.experiments.context import CONTEXT_BUILDERS
from kbsc.experiments.plugins import import_plugins
from kbsc.experiments.trust import check_code_allowed as _check
from kbsc.features.registry import EXTRACTORS
from kbsc.kb.index import INDEXES
from kbsc.systems.base import system_class
from kbsc.util.cbr import MAX_CBR as MAX_CBR  # re-exported: this module's name before kbsc.util.cbr
from kbsc.util.cbr import cbr_label, cbr_value  # cbr_label re-exported (its home before kbsc.util.cbr)
from kbsc.util.device import parse_device_spec
from kbsc.util.hashing import hash_obj
from kbsc.util.safe_yaml import load_yaml, load_yaml_file

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
    "preset_dir",
    "preset_names",
    "validate_config",
]


def _not_bool(value: Any) -> Any:
    """YAML's true/false are not counts or indices (pydantic would read true as 1)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Cbr = Annotated[float, BeforeValidator(cbr_value)]
Snr = Annotated[float, BeforeValidator(_not_bool), Field(ge=-50.0, le=80.0)]
Seed = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, lt=2**31)]
Mcs = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=31)]
Name = Annotated[str, Field(min_length=1)]


def _channel_entry(value: Any) -> str:
    """A YAML channel entry (name, label or mapping) → its canonical label (see the module docstring)."""
    try:
        from kbsc.bridge.channel_spec import channel_label  # lazy: only this path needs it
    except ImportError:  # pragma: no cover - the bridge is part of the package
        return value
    try:
        return channel_label(value)
    except KbscError as exc:
        raise ValueError(str(exc)) from None


Channel = Annotated[str, BeforeValidator(_channel_entry)]


class _Strict(BaseModel):
    # a string under a field is its description (the generated config reference in docs/ shows it)
    model_config = ConfigDict(extra="forbid", validate_default=True, use_attribute_docstrings=True)


class DatasetSpec(_Strict):
    """Which dataset the sender images and the knowledge base come from."""

    name: Name = "synthetic100"
    """``synthetic100`` (embedded, generated from a seed), ``cifar100`` or ``folder`` (your images)"""
    root: str | None = None
    """the dataset's folder (``cifar-100-python``, or the image folder); unused for synthetic100"""
    split_seed: Seed = 0
    """seed of the per-class split of the test images into sender images and knowledge base"""


class ExtractorSpec(_Strict):
    """The feature extractor shared by every system's receiver (and the KB)."""

    name: Name = "standin"
    """``standin`` (the embedded CNN, trained here or loaded from the reference models) or ``clip-vit-b32``"""
    checkpoint: str | None = None
    """CLIP's weights: OpenAI's ``ViT-B-32.pt`` or a Hugging Face folder (nothing is downloaded)"""
    options: dict[str, Any] = Field(default_factory=dict)
    """extractor-specific, e.g. ``{max_steps: 20}`` for a tiny stand-in"""


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
    """OFDM grid settings are the bridge's ``GridConfig`` fields; empty = its defaults (docs/design.md §2)."""
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
    """a named budget of the learned systems: ``quick``, ``reference`` (JSCC) or ``paper``"""
    max_steps: Int | None = Field(None, ge=1, le=10_000_000)
    """ceiling in optimizer steps"""
    patience: Int | None = Field(None, ge=1, le=10_000)
    """validations without gain that end training"""
    eval_every: Int | None = Field(None, ge=1, le=1_000_000)
    """optimizer steps between validations"""


class SystemSpec(_Strict):
    """One compared system; any grid axis may be overridden for it."""

    name: Name
    """the system's registry name (``kbsc``, ``hevc+ldpc``, ``swinjscc``, ``plugin``, ...)"""
    label: str | None = None
    """the ``system`` column of the results (default: the name); tells two variants of one system apart"""
    options: dict[str, Any] = Field(default_factory=dict)
    """the system's own options (see the systems' pages)"""
    mcs: list[Mcs] | None = None
    """MCS indices of a fixed-MCS system (``hevc+ldpc``, ``kbsc-digital``): one curve each"""
    channels: list[Channel] | None = None
    """this system's channels instead of the grid's"""
    csi: list[Name] | None = None
    """this system's CSI modes instead of the grid's"""
    snr_db: list[Snr] | None = None
    """this system's SNRs instead of the grid's"""
    cbr: list[Cbr] | None = None
    """this system's CBRs instead of the grid's"""
    seeds: list[Seed] | None = None
    """this system's seeds instead of the grid's"""

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
    """the experiment's name (shown in summaries)"""
    plugins: list[str] = Field(default_factory=list)
    """modules imported before validation (their channels and systems register); code: needs --allow-code"""
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    """where the images come from"""
    extractor: ExtractorSpec = Field(default_factory=ExtractorSpec)
    """the feature extractor of every receiver and of the knowledge base"""
    index: str = "flat"
    """the knowledge base's FAISS index: ``flat`` (exact), ``ivf`` or ``hnsw``"""
    n_images: Int = Field(1000, ge=1, le=10_000_000)
    """sender images per cell (a class-balanced subset of the sender half)"""
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    """master seeds of the channel realizations"""
    snr_db: list[Snr] = Field(min_length=1)
    """SNRs in dB (Es/N0 per data RE)"""
    cbr: list[Cbr] = Field(min_length=1)
    """channel bandwidth ratios, as numbers or fractions (``"1/8"``)"""
    channels: list[Channel] = Field(default_factory=lambda: ["awgn"], min_length=1)
    """channel models: names, labels with options, mappings or ``{import: FILE}``"""
    csi: list[Name] = Field(default_factory=lambda: ["perfect"], min_length=1)
    """receiver CSI: ``perfect``, ``ls-nearest``, ``ls-linear`` or ``lmmse``"""
    # null: no grid block at all (the bridge's defaults, as {}): how `kbsc train`/`kbsc evaluate` have always
    # named their codecs, whose training key holds the grid as given
    grid: GridSettings | None = Field(default_factory=dict)
    """OFDM grid settings (the bridge's ``GridConfig`` fields); empty or null: the default slot"""
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    """training budget of the learned systems"""
    systems: list[SystemSpec] = Field(min_length=1)
    """the compared systems"""
    device: str | None = None
    """where torch runs: ``auto`` (default), ``cpu``, ``cuda`` or ``cuda:N``; a run-time setting, not part of
    the experiment's identity (left out of the config hash); `--device` and `$KBSC_DEVICE` take precedence"""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """autocast of extractor and JSCC inference: ``fp32`` (off, default), ``bf16`` or ``fp16`` (CUDA only); it
    changes results, so a value other than fp32 is part of the experiment's identity"""

    @field_validator("device")
    @classmethod
    def _device_spec(cls, v: str | None) -> str | None:
        if v is None:
            return v

        try:
            return parse_device_spec(v)
        except KbscError as exc:
            raise ValueError(str(exc)) from None

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
        """Plain, JSON-able form (floats, sorted keys when hashed): what ``config.yaml`` stores.

        ``device`` is left out: where torch ran is provenance (``provenance.json``), not the experiment."""
        drop = {"device"} | ({"precision"} if self.precision == "fp32" else set())
        return self.model_dump(mode="json", exclude=drop)


def config_hash(cfg: ExperimentConfig) -> str:
    return hash_obj(cfg.canonical())


# ------------------------------------------------------------------------------------ deep validation


def code_modules(cfg: ExperimentConfig) -> list[str]:
    """Modules (or ``.py`` files) that running ``cfg`` would import: its ``plugins`` and what plug-in systems
    name (``module: "path/x.py:Cls"``). Importing a module runs its code (docs/design.md §7). Modules of the
    kbsc package itself (``kbsc.…``) are not outside code and are left out."""
    from kbsc.systems.base import SYSTEMS  # its lookups import the registering modules

    mods = list(cfg.plugins)
    for s in cfg.systems:
        if s.name in SYSTEMS:
            mods += [m for m in SYSTEMS.get(s.name).code_modules(dict(s.options)) if m not in mods]
    return [m for m in mods if not (m.startswith("kbsc.") and not m.endswith(".py") and "/" not in m)]


def check_code_allowed(cfg: ExperimentConfig, allow_code: bool) -> None:
    """Refuse (one line) a config that imports code or runs executables unless the caller opted in
    (:mod:`kbsc.experiments.trust` lists the keys)."""

    _check(cfg.model_dump(), allow_code)


def validate_config(cfg: ExperimentConfig, *, allow_code: bool = False) -> None:
    """Everything that can be checked before a run starts, as one-line :class:`ConfigError`s: the code
    opt-in, plug-in imports, system names and each system's options (asked of the system class, nothing
    runs), the OFDM grid values, and the dataset/extractor/index names."""

    check_code_allowed(cfg, allow_code)
    import_plugins(cfg.plugins)
    for i, s in enumerate(cfg.systems):
        try:
            cls = system_class(s.name)
            names = cls.option_names()
            if s.mcs is not None and names is not None and "mcs" not in names:
                raise ConfigError(
                    "takes no 'mcs' list: it does not use an NR MCS (hevc+ldpc and kbsc-digital do)"
                )
            cls.validate_options(
                dict(s.options),
                mcs=list(s.mcs) if s.mcs is not None else None,
                training=cfg.training.model_dump(),
            )
        except ConfigError as exc:
            raise ConfigError(f"systems[{i}] ({s.display}): {exc}") from None
    if cfg.grid:
        from kbsc.bridge import GridConfig  # lazy: only this path needs it

        try:
            GridConfig.from_mapping(cfg.grid)
        except ConfigError as exc:
            raise ConfigError(f"grid: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"grid: bad setting ({exc})") from None
    _check_names(cfg)


def _check_names(cfg: ExperimentConfig) -> None:
    """Dataset, extractor and index names (a dataset from a plug-in context builder brings its own)."""

    if cfg.dataset.name in CONTEXT_BUILDERS:
        return

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

    import_plugins(plugins)


def parse_config(data: Any, source: str = "config", *, allow_code: bool = False) -> ExperimentConfig:
    """Validate a mapping into an :class:`ExperimentConfig` (one-line :class:`ConfigError` otherwise).

    allow_code: a mapping that names code (``plugins``, ``module``, executables; see
    :mod:`kbsc.experiments.trust`) is refused unless True; the check comes before anything is imported."""

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, got {type(data).__name__}")
    _check(data, allow_code, source)
    import_config_plugins(data, source)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, source) from None


def _read_yaml(path: Path) -> Any:
    """The file's YAML, bounded (size, depth, alias expansion, duplicate keys: :mod:`kbsc.util.safe_yaml`)."""

    return load_yaml_file(path)


def resolve_config_path(name: str | os.PathLike[str]) -> Path:
    """A path, or a preset name (``quick``, ``paper``): ``./experiments/NAME.yaml`` of the current project
    first, else the preset shipped with the package (``kbsc/presets``; in a checkout a link to
    ``experiments/``)."""
    path = Path(name)
    if path.exists():
        return path
    if path.suffix == "" and path.parent == Path("."):
        for root in (Path.cwd() / "experiments", preset_dir()):
            cand = root / f"{path.name}.yaml"
            if cand.exists():
                return cand
    names = ", ".join(preset_names()) or "quick, paper"
    raise ConfigError(f"config {str(name)!r} not found (give a YAML path or a preset: {names})")


def preset_dir() -> Path:
    """The presets shipped as package data (``kbsc/presets/*.yaml``)."""
    return Path(str(resources.files("kbsc") / "presets"))


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))


def load_config(
    path: str | os.PathLike[str], overrides: list[str] | None = None, *, allow_code: bool = False
) -> ExperimentConfig:
    """Read a YAML config (or preset name), apply ``key=value`` overrides, validate; a config that names
    code is refused before anything is imported unless ``allow_code`` (``--allow-code``)."""
    p = resolve_config_path(path)
    data = _read_yaml(p)
    if data is None:
        data = {}
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_config(data, source=str(p), allow_code=allow_code)


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
            value = load_yaml(raw, "value") if raw.strip() else None
        except ConfigError as exc:
            raise ConfigError(f"override {key!r}: {exc}") from None
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
