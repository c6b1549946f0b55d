"""One base for the settings of a learned model's training: the stand-in extractor, the KBSC codecs and the
pixel JSCC models each describe what determines a trained model with a frozen dataclass that mixes in
:class:`TrainSettings`.

What the base gives them:

* **named settings** (``SETTINGS``, a registry of dicts such as ``quick`` or ``paper``): the fields listed in
  ``BUDGET_KEYS`` that are left at None are filled from the chosen setting by :meth:`TrainSettings.filled`
  (converted by ``BUDGET_TYPES``, where given);
* **the loop's budget** (:meth:`TrainSettings.loop_budget`): ``max_steps``, ``min_steps`` (at most
  ``max_steps``), ``eval_every`` and ``patience`` plus the trainer's schedule options, validated;
* **the key of a trained model**: :meth:`TrainSettings.as_dict` (what is stored with the weights),
  :meth:`TrainSettings.hash` (without ``HASH_EXCLUDE``, e.g. the thread count), ``FORMAT_VERSION`` (bumped
  when old checkpoints must not be reused) and :meth:`TrainSettings.expected_manifest`;
* **train-or-load** (:meth:`TrainSettings.train_or_load`): the finished model of the same key in the data
  directory or the reference store, else training it (:func:`kbsc.training.store.train_or_load`); and
  :meth:`TrainSettings.load_checkpoint`, a finished ``model.pt`` rebuilt from the config stored in it;
* **options from text** (:meth:`TrainSettings.from_options`): unknown names and values of the wrong type are
  one-line :class:`~kbsc.errors.ConfigError`; and :meth:`TrainSettings.for_system`, the settings a learned
  system of the grid trains with (its options, the experiment's ``training`` block, the cell).

The hashes and manifests are exactly those the trainers wrote before this base existed: the committed
reference models (``models/``) are found by them (``tests/unit/test_training_settings.py`` pins them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

from kbsc.errors import ConfigError, DataError
from kbsc.training.loop import Budget, TrainingReport
from kbsc.training.store import TrainJob
from kbsc.training.store import train_or_load as _store_train_or_load
from kbsc.util import hash_obj
from kbsc.util.registry import Registry

__all__ = ["TrainSettings", "coerce_option"]


def coerce_option(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (``"yes"``/``"off"``… for a bool); ValueError when it is not one."""
    if kind is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return kind(value)


class TrainSettings:
    """Mixin for the frozen dataclass that determines a trained model (see the module docstring).

    Class attributes (not dataclass fields) a trainer sets:

    * ``SETTINGS``: the named settings (None: the dataclass defaults are the one setting);
    * ``BUDGET_KEYS``: fields that None-fills from the setting; ``BUDGET_TYPES``: field → type a filled value
      is converted to (a field not listed keeps the value as written: the hashes of existing checkpoints
      depend on it); ``SETTING_DEFAULTS``: values for keys a setting may leave out;
    * ``FORMAT_VERSION``, ``KIND`` (the manifest's ``kind``), ``HASH_EXCLUDE`` (fields that do not change the
      weights' key), ``OPTION_LABEL`` (the name in error messages).
    """

    SETTINGS: ClassVar[Registry[dict[str, Any]] | None] = None
    BUDGET_KEYS: ClassVar[tuple[str, ...]] = ()
    BUDGET_TYPES: ClassVar[Mapping[str, type]] = {}
    SETTING_DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    FORMAT_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = ""
    HASH_EXCLUDE: ClassVar[tuple[str, ...]] = ("threads",)
    OPTION_LABEL: ClassVar[str] = "training"

    # fields every trainer's dataclass has (``setting`` only where there are named settings); annotations
    # of this plain mixin do not become dataclass fields
    setting: str
    max_steps: Any
    min_steps: Any
    eval_every: Any
    patience: Any
    threads: int

    # -- named settings and the budget ---------------------------------------------------------------------

    def setting_values(self) -> dict[str, Any]:
        """The chosen named setting (``{}`` when the class has none); unknown name: ConfigError."""
        if self.SETTINGS is None:
            return {}
        return self.SETTINGS.get(self.setting)

    def filled(self) -> Any:
        """A copy with every ``BUDGET_KEYS`` field that is None taken from the setting (then converted)."""
        base = self.setting_values()
        values = {}
        for key in self.BUDGET_KEYS:
            value = getattr(self, key)
            if value is None and key in self.SETTING_DEFAULTS:
                value = base.get(key, self.SETTING_DEFAULTS[key])
            elif value is None:
                value = base[key]
            kind = self.BUDGET_TYPES.get(key)
            values[key] = kind(value) if kind is not None else value
        return dataclasses.replace(self, **values)  # type: ignore[type-var]

    def loop_budget(self, **options: Any) -> Budget:
        """The loop's :class:`Budget` from ``max_steps``, ``min_steps`` (clipped to ``max_steps``),
        ``eval_every`` and ``patience`` (on a filled config) and the trainer's ``options`` (schedule, …)."""
        max_steps = int(self.max_steps)
        return Budget(
            max_steps=max_steps,
            min_steps=min(int(self.min_steps), max_steps),
            eval_every=int(self.eval_every),
            patience=int(self.patience),
            **options,
        ).validated()

    # -- the key of a trained model ------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (tuples as lists): stored with the weights and in the manifest."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items()  # type: ignore[call-overload]
        }

    def hash(self) -> str:
        """16 hex digits of the fields but ``HASH_EXCLUDE``: names the checkpoint folder."""
        d = self.as_dict()
        for key in self.HASH_EXCLUDE:
            d.pop(key)
        return hash_obj(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        """The config stored by :meth:`as_dict` (unknown keys ignored; list fields back to tuples)."""
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        names = {f.name for f in fields}
        kept = {k: v for k, v in d.items() if k in names}
        for f in fields:
            if isinstance(f.default, tuple):
                kept[f.name] = tuple(kept[f.name])  # KeyError: not a stored config
        return cls(**kept)

    def expected_manifest(self, data_keys: Mapping[str, Any]) -> dict[str, Any]:
        """What a finished model's manifest must hold to be reused: kind, format, config hash, the data."""
        return {"kind": self.KIND, "format": self.FORMAT_VERSION, "config_hash": self.hash(), **data_keys}

    def budget(self) -> Budget:  # pragma: no cover - each trainer defines its schedule
        raise NotImplementedError

    # -- train or load -------------------------------------------------------------------------------------

    def train_or_load(
        self,
        path: Path | None,
        data_keys: Mapping[str, Any],
        load: Callable[[Path], torch.nn.Module],
        make_job: Callable[[], TrainJob],
        *,
        resume: bool = True,
        stop_after: int | None = None,
        show_progress: bool = True,
        desc: str = "training",
    ) -> tuple[torch.nn.Module, TrainingReport, bool, Path | None]:
        """The finished model of this config at ``path`` (or the reference store's), else train it there.

        Call on a resolved config. Returns (model in eval mode, report, cached, folder); see
        :func:`kbsc.training.store.train_or_load`.
        """
        return _store_train_or_load(
            path,
            self.expected_manifest(data_keys),
            self.as_dict(),
            load,
            make_job,
            self.budget(),
            threads=int(self.threads),
            resume=resume,
            stop_after=stop_after,
            show_progress=show_progress,
            desc=desc,
        )

    @classmethod
    def load_checkpoint(
        cls,
        path: Path,
        expected: TrainSettings | None,
        build: Callable[[Any], torch.nn.Module],
        *,
        what: str,
        hint: str,
    ) -> torch.nn.Module:
        """The model in ``path/model.pt`` (weights only, as :func:`kbsc.training.store.save_finished` writes
        it), built by ``build`` from the config stored with it, in eval mode.

        ``expected``: refuse a checkpoint of another config hash. ``what`` names the model in the one-line
        :class:`DataError` (``"codec"``); ``hint`` says how to make a missing one.
        """
        path = Path(path)
        file = path / "model.pt"
        try:
            blob = torch.load(file, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DataError(f"no trained {what} at {path}; {hint}") from None
        except Exception as exc:  # corrupt or foreign file (a pickle payload is refused by weights_only)
            raise DataError(
                f"{file} is not a {what} checkpoint ({_first_line(exc)}); delete it to retrain"
            ) from None
        try:
            stored = cls.from_dict(blob["config"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"{file} is not a {what} checkpoint (no valid config: {type(exc).__name__}: {exc}); "
                "delete it to retrain"
            ) from None
        if expected is not None and stored.hash() != expected.hash():
            raise DataError(
                f"{what} at {path} was trained with a different configuration; delete it to retrain"
            )
        model = build(stored)
        try:
            model.load_state_dict(blob["state"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise DataError(
                f"{file} does not hold the {what}'s weights ({_first_line(exc)}); delete it to retrain"
            ) from None
        return model.eval()

    @classmethod
    def for_system(
        cls,
        system: str,
        options: Mapping[str, Any],
        training: Mapping[str, Any] | None,
        keys: Iterable[str],
        **fixed: Any,
    ) -> Any:
        """The resolved settings a learned system trains with: what the cell fixes (``fixed``: k, channel,
        seed, …), the system's ``options`` and, where they are silent, the experiment's ``training`` block for
        ``keys``. Options given as lists for tuple fields become tuples. A bad option is a one-line
        :class:`ConfigError` naming ``system``."""
        opts = dict(options)
        for key in keys:
            if (training or {}).get(key) is not None:
                opts.setdefault(key, training[key])  # type: ignore[index]
        try:
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                if isinstance(f.default, tuple) and f.name in opts:
                    opts[f.name] = tuple(opts[f.name])
            return cls(**fixed, **opts).resolved()  # type: ignore[attr-defined]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad option for system {system!r}: {exc}") from None

    # -- options from text ---------------------------------------------------------------------------------

    @classmethod
    def from_options(cls, **options: Any) -> Any:
        """The defaults with ``options`` applied, each converted to its field's type (``"8"`` → 8)."""
        defaults = cls()
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown {cls.OPTION_LABEL} option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        values = {}
        for key, value in options.items():
            default = getattr(defaults, key)
            try:
                values[key] = coerce_option(value, type(default))
            except ValueError:
                raise ConfigError(
                    f"{cls.OPTION_LABEL} option {key}={value!r} is not a {type(default).__name__}"
                ) from None
        return dataclasses.replace(defaults, **values)  # type: ignore[type-var]


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters of it) for a one-line error."""
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"
