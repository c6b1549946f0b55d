"""The semantic systems of the experiment grid: ``kbsc``, ``kbsc-snr``, ``kbsc-csi`` and ``kbsc-no-codec``.

One codec per (variant, k, channel, CSI, training seed) is trained in :meth:`prepare` (or loaded from the
checkpoint cache under ``<data dir>/semantic/``) on the workspace's training split. The training seed is the
cell's seed unless the ``train_seed`` option fixes it; either way training realizations never overlap
evaluation ones (:mod:`kbsc.semantic.channel`). Options (``systems[].options`` in an experiment config) are
the fields of :class:`~kbsc.semantic.train.TrainConfig` (``setting``, ``max_steps``, ``patience``,
``eval_every``, ``lr``, ``contrastive_weight``, ``power_norm``, …) plus ``train_seed``; the experiment's
``training`` block (same budget keys) applies where options are silent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kbsc.errors import ConfigError
from kbsc.semantic.channel import open_bridge
from kbsc.semantic.codec import SemanticCodec
from kbsc.semantic.evaluate import evaluate_codec
from kbsc.semantic.train import TrainConfig, build_codec, train_codec, training_data
from kbsc.systems.base import SYSTEMS, TRAINING_KEYS, Cell, EvalContext, Outcomes, System

__all__ = ["KBSCCSISystem", "KBSCNoCodecSystem", "KBSCSNRSystem", "KBSCSystem", "SemanticSystem"]

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)} - {
    "variant",
    "k",
    "channel",
    "csi",
    "seed",
    "grid",
}


class SemanticSystem(System):
    """Feature codec → bridge → decoder → KB retrieval. Subclasses set :attr:`variant`."""

    variant: str = "kbsc"
    accelerated = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.check_option_names(_CONFIG_FIELDS | {"train_seed"}, label=self.variant)
        self._codecs: dict[tuple, SemanticCodec] = {}
        self._bridges: dict[tuple, Any] = {}
        self.train_log: dict[tuple, Any] = {}

    @classmethod
    def option_names(cls) -> set[str]:
        return set(_CONFIG_FIELDS) | {"train_seed"}

    @classmethod
    def validate_options(
        cls, options: dict[str, Any], mcs: list[int] | None = None, training: dict[str, Any] | None = None
    ) -> None:
        """Option names, then the training settings they give (setting name, ranges, types; the
        experiment's ``training.setting`` where the options are silent) on a stand-in cell: what training
        would refuse, refused before the run starts."""
        cls(**options)
        opts = {k: v for k, v in options.items() if k != "train_seed"}
        TrainConfig.for_system(cls.variant, opts, training, ("setting",), variant=cls.variant)

    def train_config(self, cell: Cell, ctx: EvalContext) -> TrainConfig:
        return TrainConfig.for_system(
            self.variant,
            {k: v for k, v in self.options.items() if k != "train_seed"},
            ctx.options.get("training"),
            TRAINING_KEYS,
            variant=self.variant,
            k=cell.k(ctx.source_dim),
            channel=cell.channel,
            csi=cell.csi,
            seed=int(self.options.get("train_seed", cell.seed)),
            grid=ctx.options.get("grid"),
        )

    def _codec(self, cell: Cell, ctx: EvalContext) -> SemanticCodec:
        cfg = self.train_config(cell, ctx)
        key = (cfg.hash(),)
        if key not in self._codecs:
            codec = build_codec(cfg)
            if codec.trainable:
                if ctx.workspace is None:
                    raise ConfigError(
                        f"system {self.variant!r} trains on a workspace's training split; "
                        f"dataset {cell.dataset!r} has none"
                    )
                data = training_data(ctx.workspace, split_seed=cfg.split_seed)
                from kbsc.util import data_dir  # lazy: only this path needs it

                result = train_codec(cfg, data, data_dir(ctx.data_dir) / "semantic")
                self.train_log[key] = result
                codec = result.codec
            self._codecs[key] = codec.eval()
        return self._codecs[key]

    def _bridge(self, cell: Cell, ctx: EvalContext) -> Any:
        """One bridge per (channel, CSI, seed), its cache sized to hold every sender image's slots, so the
        realizations are drawn once and reused across SNRs and CBRs (they do not depend on either)."""
        grid = ctx.options.get("grid")
        key = (cell.channel, cell.csi, cell.seed, repr(grid))
        if key not in self._bridges:
            slots = 4 * len(ctx.image_ids)  # up to 4 slots per image (k ≤ 4 slots of data REs)
            self._bridges.clear()  # keep one at a time: the cache of a bridge can be large
            self._bridges[key] = open_bridge(
                cell.channel, cell.csi, cell.seed, grid, cache_slots=max(2048, slots)
            )
        return self._bridges[key]

    def prepare(self, ctx: EvalContext, cells: list[Cell]) -> None:
        for cell in cells:
            self._codec(cell, ctx)

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        codec = self._codec(cell, ctx)
        bridge = self._bridge(cell, ctx)
        res = evaluate_codec(codec, bridge, ctx.features, ctx.image_ids, ctx.kb, cell.snr_db)
        n = len(ctx.image_ids)
        return Outcomes(
            image_ids=np.asarray(ctx.image_ids, dtype=np.int64),
            labels=np.asarray(ctx.labels, dtype=np.int64),
            retrieved=res.retrieved,
            fingerprint=res.fingerprint,
            extras={"channel_uses": np.full(n, codec.k, dtype=np.int64)},
            model=self._model_brief(cell, ctx),
        )

    def _model_brief(self, cell: Cell, ctx: EvalContext) -> dict[str, Any] | None:
        result = self.train_log.get((self.train_config(cell, ctx).hash(),))
        if result is None or result.report is None:
            return None
        return result.report.brief(result.path.name if result.path is not None else self.variant)

    def training_reports(self) -> dict[str, dict[str, Any]]:
        return {
            (r.path.name if r.path is not None else key[0][:12]): r.report.as_dict()
            for key, r in self.train_log.items()
            if r.report is not None
        }


@SYSTEMS.register("kbsc")
class KBSCSystem(SemanticSystem):
    """The faithful KBSC model (no SNR input)."""

    name = variant = "kbsc"


@SYSTEMS.register("kbsc-snr")
class KBSCSNRSystem(SemanticSystem):
    """Our SNR-conditioned extension (FiLM on the SNR, noise variance at the decoder)."""

    name = variant = "kbsc-snr"


@SYSTEMS.register("kbsc-csi")
class KBSCCSISystem(SemanticSystem):
    """Our CSI-aware extension: the authors' encoder, a decoder that weighs each received symbol by the
    per-symbol noise variance the bridge reports (:mod:`kbsc.semantic.csi_codec`)."""

    name = variant = "kbsc-csi"


@SYSTEMS.register("kbsc-no-codec")
class KBSCNoCodecSystem(SemanticSystem):
    """The raw feature sent uncoded (:mod:`kbsc.semantic.reference`)."""

    name = variant = "kbsc-no-codec"
