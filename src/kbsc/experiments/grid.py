"""Expand a configuration into grid cells, each with a stable content hash (its result file's name).

Order: systems (config order) × channel × CSI × SNR × CBR × MCS × seed. The hash covers everything that
changes a cell's result: the cell, the system's registry name, label and options, and the context (dataset,
extractor, number of images, OFDM grid and training settings); not the data directory, the backend or the
worker count.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kbsc.experiments.config import ExperimentConfig
from kbsc.experiments.context import ContextSpec
from kbsc.systems.base import Cell
from kbsc.util.hashing import hash_obj

__all__ = ["Plan", "PrepareTask", "SystemPlan", "Task", "context_spec", "expand", "pairing_key"]


@dataclass(frozen=True)
class Task:
    """One cell to evaluate: ``label`` is the ``system`` column, ``cell.system`` the registry name."""

    label: str
    cell: Cell
    cell_hash: str


@dataclass(frozen=True)
class PrepareTask:
    """Run a fresh instance's ``prepare`` on a group of cells (parallel preparation before the cells)."""

    label: str
    cells: tuple[Cell, ...]
    cell_hash: str  # an id for the task (not a result file)


@dataclass
class SystemPlan:
    """A system as the workers build it: registry name, options and the cells it will evaluate."""

    name: str
    options: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Plan:
    """What a worker needs once: plugins to import, the context spec, and each system's cells.

    retrain: ``--retrain`` (skip the committed reference models); not part of any cell's hash, since a
    reference model is the model its configuration names.
    """

    plugins: list[str]
    context: ContextSpec
    systems: dict[str, SystemPlan]
    retrain: bool = False


def context_spec(cfg: ExperimentConfig, data_dir: str) -> ContextSpec:
    options = {
        "grid": dict(cfg.grid) if cfg.grid is not None else None,
        "training": cfg.training.model_dump(mode="json"),
        "n_images": cfg.n_images,
    }
    return ContextSpec(
        dataset=cfg.dataset.name,
        extractor=cfg.extractor.name,
        n_images=cfg.n_images,
        data_dir=str(data_dir),
        dataset_root=cfg.dataset.root,
        checkpoint=cfg.extractor.checkpoint,
        split_seed=cfg.dataset.split_seed,
        index=cfg.index,
        options=tuple(sorted(options.items())),
        extractor_options=tuple(sorted(cfg.extractor.options.items())),
    )


def pairing_key(cell: Cell) -> tuple:
    """Cells with the same key must use the same images and realizations (equal fingerprints)."""
    return (cell.dataset, cell.extractor, cell.channel, cell.csi, cell.snr_db, cell.cbr, cell.seed)


def expand(cfg: ExperimentConfig, spec: ContextSpec) -> list[Task]:
    """All cells of the grid, in table order, with their hashes."""
    tasks: list[Task] = []
    ident = spec.identity()
    for s in cfg.systems:
        for channel in s.channels or cfg.channels:
            for csi in s.csi or cfg.csi:
                for snr in s.snr_db or cfg.snr_db:
                    for cbr in s.cbr or cfg.cbr:
                        for mcs in s.mcs or [None]:
                            for seed in s.seeds or cfg.seeds:
                                cell = Cell(
                                    system=s.name,
                                    dataset=cfg.dataset.name,
                                    extractor=cfg.extractor.name,
                                    channel=channel,
                                    csi=csi,
                                    snr_db=float(snr),
                                    cbr=float(cbr),
                                    seed=int(seed),
                                    mcs=None if mcs is None else int(mcs),
                                )
                                h = hash_obj(
                                    {
                                        "cell": dataclasses.asdict(cell),
                                        "label": s.display,
                                        "options": s.options,
                                        "context": ident,
                                    }
                                )
                                tasks.append(Task(label=s.display, cell=cell, cell_hash=h))
    seen: set[str] = set()
    unique = []
    for t in tasks:  # a value listed twice in a list gives the same cell: keep it once
        if t.cell_hash not in seen:
            seen.add(t.cell_hash)
            unique.append(t)
    return unique
