"""A small grid built from command-line flags, run through the experiment runner (``kbsc baseline``,
``kbsc evaluate``): the same cells, context, preparation and per-cell summaries as ``kbsc run``, in a
temporary results folder that is removed once the table is printed."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kbsc.experiments.config import ExperimentConfig
from kbsc.experiments.context import get_context
from kbsc.experiments.grid import context_spec
from kbsc.experiments.results import load_outcomes
from kbsc.experiments.runner import run_experiment
from kbsc.systems.base import EvalContext
from kbsc.util.paths import data_dir as resolve_data_dir

__all__ = ["OneShot", "context_of", "run_one_shot"]


def context_of(cfg: ExperimentConfig, data_dir: str | Path | None) -> EvalContext:
    """The context the runner will use for ``cfg`` (built once per process, so the run reuses it)."""
    return get_context(context_spec(cfg, str(resolve_data_dir(data_dir))))


@dataclass
class OneShot:
    """What a one-off grid gives back: the results table (one row per cell, :data:`RESULT_COLUMNS`) and,
    per cell hash, the finite mean of each per-image extra asked for (NaN where it has none)."""

    results: pd.DataFrame
    extra_means: dict[str, dict[str, float]] = field(default_factory=dict)

    def row(self, **cell: Any) -> pd.Series:
        """The one results row whose columns equal ``cell`` (floats compared exactly: they are the grid's)."""
        mask = np.ones(len(self.results), dtype=bool)
        for key, value in cell.items():
            mask &= (self.results[key] == value).to_numpy()
        rows = self.results[mask]
        if len(rows) != 1:
            raise LookupError(f"{len(rows)} result rows match {cell}")
        return rows.iloc[0]


def run_one_shot(cfg: ExperimentConfig, data_dir: str | Path | None, extras: tuple[str, ...] = ()) -> OneShot:
    """Run every cell of ``cfg`` in this process (serial backend) into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="kbsc-cells-") as tmp:
        out_dir = Path(tmp) / "run"
        summary = run_experiment(cfg, out_dir, backend="serial", data_dir=data_dir, show_progress=True)
        means: dict[str, dict[str, float]] = {}
        if extras:
            outcomes = load_outcomes(out_dir)
            for cell_hash, group in outcomes.groupby("cell_hash", sort=False):
                # pandas' mean skips NaN (an image the extra does not apply to)
                means[str(cell_hash)] = {
                    e: float(group[f"x_{e}"].mean()) if f"x_{e}" in group else float("nan") for e in extras
                }
    return OneShot(summary.results, means)
