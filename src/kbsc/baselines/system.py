"""The conventional systems of the experiment grid.

* ``hevc+ldpc``: HEVC intra at the best QP that fits one NR transport block at MCS ``cell.mcs`` (option
  ``mcs`` when the cell has none; default 4), through the bridge.
* ``hevc+ldpc-best``: per image, the best outcome over the MCS set ``mcs_set`` on the same realizations
  (top-1 correct, then top-5 correct, then PSNR) — a genie envelope of fixed-MCS links, not a realizable
  link adaptation. Evaluated from the largest transport block down with early stopping per image
  (:mod:`kbsc.baselines.envelope`; option ``early_stop: false`` runs every MCS for every image, same table).
* ``hevc+capacity``: an image gets through iff its bits ≤ Σ log2(1 + SNR·|h_i|²) over its own REs.

Options (``systems[].options``): ``codec`` (hevc | bpg | jpeg), ``failure`` (conceal | miss), ``decoder``
(LDPC decoder name, default layered-oms; ``sionna`` for Sionna's own), ``num_iter`` (20), ``mcs_table``
(1 = TS 38.214 Table 5.1.3.1-1, 2 = Table 5.1.3.1-2), ``mcs`` (default MCS), ``mcs_set`` (envelope),
``early_stop`` (envelope, default true).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kbsc.baselines.pipeline import BaselineRunner, CellResult, fallback_image
from kbsc.errors import ConfigError
from kbsc.systems.base import SYSTEMS, Cell, EvalContext, Outcomes, System

__all__ = [
    "DEFAULT_MCS",
    "DEFAULT_MCS_SET",
    "HevcCapacitySystem",
    "HevcLdpcBestSystem",
    "HevcLdpcSystem",
    "open_bridge",
]

DEFAULT_MCS = 4
#: every other index of table 1 plus the top one
DEFAULT_MCS_SET = (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 27)
_RUNNER_OPTIONS = {"codec", "failure", "decoder", "num_iter", "mcs_table", "codec_options"}


def open_bridge(channel: str, csi: str, seed: int, grid: dict[str, Any] | None = None):
    from kbsc.bridge import Bridge, GridConfig

    g = GridConfig(**{k: v for k, v in (grid or {}).items() if v is not None})
    return Bridge(channel=channel, csi=csi, seed=int(seed), grid=g)


class ConventionalSystem(System):
    """Shared plumbing: one :class:`BaselineRunner` per data directory; outcomes from a CellResult."""

    allowed: set[str] = set(_RUNNER_OPTIONS)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        unknown = set(options) - self.allowed
        if unknown:
            raise ConfigError(
                f"unknown option(s) {sorted(unknown)} for system {self.name!r}; "
                f"allowed: {', '.join(sorted(self.allowed))}"
            )
        self._runners: dict[str, BaselineRunner] = {}

    def runner(self, ctx: EvalContext) -> BaselineRunner:
        from kbsc.util import data_dir

        root = data_dir(ctx.data_dir) / "baselines"
        if str(root) not in self._runners:
            opts = {k: v for k, v in self.options.items() if k in _RUNNER_OPTIONS}
            self._runners[str(root)] = BaselineRunner(cache_dir=root, **opts)
        return self._runners[str(root)]

    @staticmethod
    def fallback(ctx: EvalContext) -> np.ndarray:
        ws = ctx.workspace
        train = getattr(getattr(ws, "train", None), "images", None)
        return fallback_image(tuple(ctx.images.shape[1:]), train)

    def outcomes(self, cell: Cell, ctx: EvalContext, res: CellResult, bridge, k: int) -> Outcomes:
        return Outcomes(
            image_ids=np.asarray(ctx.image_ids, dtype=np.int64),
            labels=np.asarray(ctx.labels, dtype=np.int64),
            retrieved=res.retrieved,
            fingerprint=bridge.fingerprint(ctx.image_ids, k),
            extras=res.extras,
        )

    def setup(self, cell: Cell, ctx: EvalContext):
        k = cell.k(ctx.source_dim)
        if k < 1:
            raise ConfigError(f"CBR {cell.cbr:g} gives k={k} channel uses per image; use a larger CBR")
        bridge = open_bridge(cell.channel, cell.csi, cell.seed, ctx.options.get("grid"))
        return k, bridge, self.runner(ctx), self.fallback(ctx)


@SYSTEMS.register("hevc+ldpc")
class HevcLdpcSystem(ConventionalSystem):
    """HEVC intra + one NR transport block at a fixed MCS."""

    name = "hevc+ldpc"
    allowed = _RUNNER_OPTIONS | {"mcs"}

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        k, bridge, runner, fb = self.setup(cell, ctx)
        mcs = cell.mcs if cell.mcs is not None else int(self.options.get("mcs", DEFAULT_MCS))
        res = runner.run_fixed(
            ctx.images, ctx.image_ids, k, cell.snr_db, bridge, mcs, ctx.extractor, ctx.kb, fb
        )
        return self.outcomes(cell, ctx, res, bridge, k)


@SYSTEMS.register("hevc+ldpc-best")
class HevcLdpcBestSystem(ConventionalSystem):
    """Per image the best fixed-MCS outcome over ``mcs_set`` on the same realizations (genie envelope)."""

    name = "hevc+ldpc-best"
    allowed = _RUNNER_OPTIONS | {"mcs_set", "early_stop"}

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        from kbsc.baselines.envelope import best_over_mcs

        k, bridge, runner, fb = self.setup(cell, ctx)
        mcs_set = [int(m) for m in self.options.get("mcs_set", DEFAULT_MCS_SET)]
        best, self.last_counts = best_over_mcs(
            runner, ctx.images, ctx.image_ids, ctx.labels, k, cell.snr_db, bridge, mcs_set, ctx.extractor,
            ctx.kb, fb, early_stop=bool(self.options.get("early_stop", True)),
        )
        return self.outcomes(cell, ctx, best, bridge, k)


@SYSTEMS.register("hevc+capacity")
class HevcCapacitySystem(ConventionalSystem):
    """HEVC intra through an ideal capacity-achieving link on each image's own realization."""

    name = "hevc+capacity"

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        k, bridge, runner, fb = self.setup(cell, ctx)
        res = runner.run_capacity(
            ctx.images, ctx.image_ids, k, cell.snr_db, bridge, ctx.extractor, ctx.kb, fb
        )
        return self.outcomes(cell, ctx, res, bridge, k)
