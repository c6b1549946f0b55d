"""The system interface every compared system implements, and the per-cell data it gets and returns.

A *cell* is one point of an experiment grid. The runner gives every system of a cell the same sender images,
the same image ids and the same realization keys (seed, image id, slot), so outcomes pair image by image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.errors import ConfigError
from kbsc.util.cbr import cbr_to_k
from kbsc.util.registry import Registry


@dataclass(frozen=True)
class Cell:
    """One grid point. ``k = round(cbr · n)`` data REs per image (docs/design.md §2)."""

    system: str
    dataset: str
    extractor: str
    channel: str
    csi: str
    snr_db: float
    cbr: float
    seed: int
    mcs: int | None = None

    def k(self, source_dim: int) -> int:
        """Channel uses (data REs) per image at this CBR."""
        return cbr_to_k(self.cbr, source_dim)


@dataclass
class EvalContext:
    """What the runner prepares once per (dataset, extractor) and hands to every system.

    images:   uint8 ``[N, 32, 32, 3]`` sender images
    labels:   int64 ``[N]`` their fine classes
    image_ids: int64 ``[N]`` their ids (realization-key component)
    features: float32 ``[N, 512]`` their clean features from ``extractor``
    kb:       the receiver knowledge base (``kbsc.kb.KnowledgeBase``)
    """

    data_dir: Path
    images: np.ndarray
    labels: np.ndarray
    image_ids: np.ndarray
    features: np.ndarray
    extractor: Any
    kb: Any
    workspace: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def source_dim(self) -> int:
        return int(np.prod(self.images.shape[1:]))


@dataclass
class Outcomes:
    """Per-image results of one system in one cell (the rows of ``outcomes.parquet``).

    image_ids: int64 ``[N]``; labels: int64 ``[N]``; retrieved: int64 ``[N, K]`` class labels of the top-K
    retrieved knowledge-base items (K ≥ 5), -1 where nothing was received and the image counts wrong.
    extras: optional per-image arrays ``[N]``, by name: ``psnr``, ``ms_ssim`` (of the image the receiver
    shows, for every image: the fallback where nothing was sent), ``bits`` (source bits sent, 0 if none),
    ``bit_errors``, ``info_bits`` (coded-link information bits), ``tb_error`` (0/1), ``qp``, ``sent`` (0/1),
    ``channel_uses``. A system without ``sent`` sends every image.
    fingerprint: the bridge's fingerprint of the realizations the cell used (equal across systems).
    model: the trained model that produced them, ``{"name", "converged", "steps", "best_step", "stopped"}``
    (:meth:`kbsc.training.TrainingReport.brief`), or None for a system without one.
    """

    image_ids: np.ndarray
    labels: np.ndarray
    retrieved: np.ndarray
    fingerprint: str
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    model: dict[str, Any] | None = None

    @property
    def correct_top1(self) -> np.ndarray:
        return self.retrieved[:, 0] == self.labels

    @property
    def correct_top5(self) -> np.ndarray:
        return (self.retrieved[:, :5] == self.labels[:, None]).any(axis=1)


# Keys of an experiment's ``training`` block that learned systems take where their options are silent.
TRAINING_KEYS = ("setting", "max_steps", "patience", "eval_every")


class System(ABC):
    """A compared system. Subclasses are registered in :data:`SYSTEMS` under their grid name."""

    name: str
    #: the cells do most of their work in torch (learned models, the extractor on decoded images): on a
    #: machine with a GPU a grid runs them (and their preparation) where the GPU is, in large batches,
    #: while the other systems' cells keep the CPU workers busy (:mod:`kbsc.experiments.backends`)
    accelerated: bool = False

    def __init__(self, **options: Any) -> None:
        self.options = options

    def check_option_names(self, allowed: set[str], label: str | None = None) -> None:
        """Refuse (one-line ConfigError) options outside ``allowed``, naming the system (``label``, else
        its registered name) and what is allowed."""
        unknown = set(self.options) - set(allowed)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {sorted(unknown)} for system {label or self.name!r}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )

    @classmethod
    def validate_options(
        cls, options: dict[str, Any], mcs: list[int] | None = None, training: dict[str, Any] | None = None
    ) -> None:
        """Check ``options`` (and the system's MCS list, the experiment's ``training`` settings, if any)
        without running anything; raise a one-line :class:`~kbsc.errors.ConfigError`. The default builds
        the system, whose constructor checks the option names; systems with more to check (codec names,
        tools on PATH, table ranges, training settings) override it."""
        cls(**options)

    @classmethod
    def option_names(cls) -> set[str] | None:
        """The option keys this system accepts (None: not declared). The trust schema test walks them, so
        that an option naming code or an executable cannot be added without the code opt-in covering it."""
        return None

    @classmethod
    def code_modules(cls, options: dict[str, Any]) -> list[str]:
        """Modules (or ``file.py`` paths) that running with ``options`` would import: code from the config,
        which runs only with an explicit opt-in (docs/design.md §7). Most systems import none."""
        return []

    def prepare(self, ctx: EvalContext, cells: list[Cell]) -> None:  # noqa: B027 - optional hook
        """Optional one-off work before the cells run (e.g. training or loading a model)."""

    def training_reports(self) -> dict[str, dict[str, Any]]:
        """Training reports of the models this system trained or loaded, by model name (checkpoint folder):
        ``{steps, best_step, converged, rule, stopped, …}`` (:class:`kbsc.training.TrainingReport`)."""
        return {}

    @abstractmethod
    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        """Send ``ctx``'s sender images through the bridge for ``cell`` and score them."""


# Modules that register systems; imported on first lookup so that importing the runner stays cheap.
SYSTEM_MODULES = (
    "kbsc.semantic.system",
    "kbsc.baselines.system",
    "kbsc.baselines.amc",
    "kbsc.baselines.harq_system",
    "kbsc.jscc.system",
    "kbsc.semantic.digital",
)
SYSTEMS: Registry[type[System]] = Registry("system", modules=SYSTEM_MODULES)


def get_system(name: str, **options: Any) -> System:
    """Instantiate the system registered as ``name``."""
    return system_class(name)(**options)


def system_class(name: str) -> type[System]:
    """The class registered as ``name`` (one-line ConfigError for an unknown name)."""
    return SYSTEMS.get(name)


def system_names() -> list[str]:
    return SYSTEMS.names()
