"""The learned pixel JSCC systems of the experiment grid.

* ``deepjscc`` / ``deepjscc-adaptive`` – one model per (k, training channel, CSI, training seed);
* ``swinjscc`` – one model per (training channel, CSI, training seed) serving every SNR and CBR of the grid;
* ``plugin`` – an outside model (``options: {module: "pkg.mod:Class", checkpoint: path, kwargs: {...}}``);
* ``jscc-import`` – outcomes computed elsewhere on exported realizations (``options: {outcomes:
  "dir/{channel}-{csi}-snr{snr_db:g}-cbr{cbr:.6g}-s{seed}.npz"}``, a template filled with the cell's fields).

Options of the trained systems (``systems[].options``): the fields of
:class:`~kbsc.jscc.train.JSCCTrainConfig` (``setting``, ``max_steps``, ``min_steps``, ``eval_every``,
``patience``, ``batch_size``, ``lr``, ``schedule``, ``snr_range``, ``cbr_range``, ``model_options``,
``threads``) plus
``train_seed`` (default: the cell's seed; training realizations never overlap evaluation ones either way),
``train_channel``/``train_csi`` (train once on this channel and evaluate on the cell's: a mismatch study and a
way to keep the number of models small) and ``batch`` (evaluation batch). The experiment's ``training`` block
(``setting``, ``max_steps``, ``patience``, ``eval_every``) applies where the options are silent. Models are
cached under ``<data dir>/jscc/`` (or loaded from the committed reference models when they match,
:mod:`kbsc.training.reference`); each cell's results name the model and its ``converged`` verdict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kbsc.errors import ConfigError
from kbsc.jscc.base import (
    JSCCModel,
    latent_to_symbols,
    power_normalize,
    spread_noise_var,
    symbols_to_latent,
)
from kbsc.jscc.channel import open_bridge
from kbsc.jscc.evaluate import outcomes_from_images, transmit_images
from kbsc.jscc.metrics import to_tensor, to_uint8
from kbsc.jscc.plugin import OutsideModel, import_outcomes, load_plugin
from kbsc.jscc.train import JSCCTrainConfig, TrainImages, TrainResult, train_images, train_model
from kbsc.systems.base import SYSTEMS, TRAINING_KEYS, Cell, EvalContext, Outcomes, System
from kbsc.util.device import autocast, current_device, inference_precision, module_device

__all__ = ["ImportedSystem", "PixelJSCCSystem", "PluginSystem", "model_runner"]

_TRAIN_FIELDS = {
    "setting",
    "max_steps",
    "min_steps",
    "eval_every",
    "patience",
    "batch_size",
    "lr",
    "schedule",
    "snr_range",
    "cbr_range",
    "loss",
    "n_val",
    "model_options",
    "threads",
}
_EXTRA = {"train_seed", "train_channel", "train_csi", "batch"}


def _train_options(options: dict[str, Any], system: str) -> dict[str, Any]:
    """The options that are training settings; ``snr_range``/``cbr_range`` must be ``[low, high]``."""
    opts = {k: v for k, v in options.items() if k in _TRAIN_FIELDS}
    for key in ("snr_range", "cbr_range"):
        if key in opts and (not isinstance(opts[key], list | tuple) or len(opts[key]) != 2):
            raise ConfigError(f"system {system!r}: option {key} must be [low, high]")
    return opts


def model_runner(model: JSCCModel, precision: str | None = None) -> tuple[Any, Any]:
    """(encode, decode) callables for :func:`kbsc.jscc.evaluate.transmit_images` from a torch model.

    They run on the model's device (images in, uint8 images out on the host). precision: autocast of the
    model's analysis/synthesis networks (``fp32`` = off; default
    :func:`kbsc.util.device.inference_precision`); the symbols and the channel stay complex64/float32."""
    device = module_device(model)
    prec = inference_precision() if precision is None else precision
    half = prec != "fp32"

    def encode(images: np.ndarray, snr_db: float, k: int) -> torch.Tensor:
        x = to_tensor(images).to(device)
        snr = torch.full((x.shape[0],), snr_db, device=device)
        if not half:
            return model.encode(x, snr, k)
        model.check_k(k)
        with autocast(device, prec):
            z = model.analysis(x, snr, k)
        return power_normalize(latent_to_symbols(z.float(), k))

    def decode(y: torch.Tensor, nv: torch.Tensor, snr_db: float, k: int) -> np.ndarray:
        snr = torch.full((y.shape[0],), snr_db, device=device)
        if not half:
            img = model.decode(y, nv, snr, k)
        else:
            model.check_k(k)
            z = symbols_to_latent(y, model.latent_shape)
            log_nv = spread_noise_var(nv, model.latent_shape)
            with autocast(device, prec):
                img = model.synthesis(z, log_nv, snr, k)
            img = img.float()
        return to_uint8(img.permute(0, 2, 3, 1).cpu().numpy())

    return encode, decode


#: evaluation batch of a cell (images per encode/decode call): the CPU default, and on a GPU a batch large
#: enough to hold a quick-preset cell whole (the option ``batch`` overrides both)
EVAL_BATCH = {"cpu": 250, "cuda": 2048}


def eval_batch(options: dict[str, Any]) -> int:
    """The cell's evaluation batch: the ``batch`` option, else :data:`EVAL_BATCH` of the device setting."""
    if options.get("batch") is not None:
        return int(options["batch"])

    return EVAL_BATCH.get(current_device().type, EVAL_BATCH["cpu"])


def _send_images(encode: Any, decode: Any, cell: Cell, ctx: EvalContext, batch: int) -> Outcomes:
    """The sender images through (encode, decode) on the cell's bridge realizations → the cell's outcomes."""
    k = cell.k(ctx.source_dim)
    bridge = open_bridge(cell.channel, cell.csi, cell.seed, ctx.options.get("grid"))
    tx = transmit_images(encode, decode, bridge, ctx.images, ctx.image_ids, cell.snr_db, k, batch=batch)
    return outcomes_from_images(tx.decoded, ctx, tx.fingerprint, tx.channel_uses)


class PixelJSCCSystem(System):
    """Image → learned encoder → bridge → learned decoder → extractor → KB. Subclasses set :attr:`model`."""

    model: str = "deepjscc"
    accelerated = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.check_option_names(_TRAIN_FIELDS | _EXTRA)
        self._models: dict[str, JSCCModel] = {}
        self.train_log: dict[str, TrainResult] = {}

    @classmethod
    def option_names(cls) -> set[str]:
        return set(_TRAIN_FIELDS) | set(_EXTRA)

    @classmethod
    def validate_options(
        cls, options: dict[str, Any], mcs: list[int] | None = None, training: dict[str, Any] | None = None
    ) -> None:
        """Option names, then the training settings they give (setting, loss, ranges, types; the
        experiment's ``training.setting`` where the options are silent) for a k of 1: what training would
        refuse, refused before the run starts."""
        cls(**options)
        opts = _train_options(options, cls.model)
        JSCCTrainConfig.for_system(cls.model, opts, training, ("setting",), model=cls.model, k=1)

    def train_config(self, cell: Cell, ctx: EvalContext) -> JSCCTrainConfig:
        return JSCCTrainConfig.for_system(
            self.name,
            _train_options(self.options, self.name),
            ctx.options.get("training"),
            TRAINING_KEYS,
            model=self.model,
            k=cell.k(ctx.source_dim),
            channel=str(self.options.get("train_channel", cell.channel)),
            csi=str(self.options.get("train_csi", cell.csi)),
            seed=int(self.options.get("train_seed", cell.seed)),
            grid=ctx.options.get("grid"),
            source_dim=ctx.source_dim,
        )

    def _train_data(self, ctx: EvalContext) -> TrainImages:
        if ctx.workspace is None:
            raise ConfigError(
                f"system {self.name!r} trains on a workspace's training split; this dataset has none"
            )
        return train_images(ctx.workspace)

    def get_model(self, cell: Cell, ctx: EvalContext) -> JSCCModel:
        cfg = self.train_config(cell, ctx)
        key = cfg.hash()
        if key not in self._models:
            from kbsc.util import data_dir  # lazy: only this path needs it

            result = train_model(cfg, self._train_data(ctx), Path(data_dir(ctx.data_dir)) / "jscc")
            self.train_log[key] = result
            self._models[key] = result.model.eval()
        model = self._models[key]
        k = cell.k(ctx.source_dim)
        if k > model.max_k:
            raise ConfigError(
                f"system {self.name!r} carries at most {model.max_k} symbols per image, cell needs "
                f"k={k} (cbr {cell.cbr:g}); raise model_options.latent_channels or cbr_range"
            )
        return model

    def prepare(self, ctx: EvalContext, cells: list[Cell]) -> None:
        for cell in cells:
            self.get_model(cell, ctx)

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        enc, dec = model_runner(self.get_model(cell, ctx))
        out = _send_images(enc, dec, cell, ctx, batch=eval_batch(self.options))
        result = self.train_log[self.train_config(cell, ctx).hash()]
        out.model = result.report.brief(result.path.name if result.path is not None else self.name)
        return out

    def training_reports(self) -> dict[str, dict[str, Any]]:
        return {
            (r.path.name if r.path is not None else key[:12]): r.report.as_dict()
            for key, r in self.train_log.items()
        }


@SYSTEMS.register("deepjscc")
class DeepJSCCSystem(PixelJSCCSystem):
    """DeepJSCC (Bourtsoulatze et al., 2019): one model per k, no SNR input."""

    name = model = "deepjscc"


@SYSTEMS.register("deepjscc-adaptive")
class DeepJSCCAdaptiveSystem(PixelJSCCSystem):
    """DeepJSCC with ADJSCC SNR attention (Xu et al., 2021): one model per k for the SNR range."""

    name = model = "deepjscc-adaptive"


@SYSTEMS.register("swinjscc")
class SwinJSCCSystem(PixelJSCCSystem):
    """SwinJSCC-class transformer (Yang et al., 2024): one model for the SNR and CBR ranges."""

    name = model = "swinjscc"

    def train_config(self, cell: Cell, ctx: EvalContext) -> JSCCTrainConfig:
        return dataclasses.replace(super().train_config(cell, ctx), k=None)


@SYSTEMS.register("plugin")
class PluginSystem(System):
    """An outside model implementing :mod:`kbsc.jscc.plugin`'s protocol, run on the cell's realizations."""

    name = "plugin"
    accelerated = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.check_option_names(self.option_names())
        if "module" not in options:
            raise ConfigError(
                "system 'plugin' needs options.module: 'pkg.mod:Class' (and usually checkpoint)"
            )
        self._model: OutsideModel | None = None

    @classmethod
    def option_names(cls) -> set[str]:
        return {"module", "checkpoint", "kwargs", "batch"}

    @classmethod
    def code_modules(cls, options: dict[str, Any]) -> list[str]:
        module = options.get("module")
        return [str(module).rpartition(":")[0] or str(module)] if module else []

    def model(self) -> OutsideModel:
        if self._model is None:
            self._model = load_plugin(
                self.options["module"],
                self.options.get("checkpoint"),
                **dict(self.options.get("kwargs") or {}),
            )
        return self._model

    def prepare(self, ctx: EvalContext, cells: list[Cell]) -> None:
        self.model()

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        m = self.model()
        return _send_images(m.encode, m.decode, cell, ctx, batch=eval_batch(self.options))


@SYSTEMS.register("jscc-import")
class ImportedSystem(System):
    """Outcomes of an outside model that ran elsewhere on exported realizations (one ``.npz`` per cell)."""

    name = "jscc-import"

    @classmethod
    def option_names(cls) -> set[str]:
        return {"outcomes"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if set(options) != {"outcomes"}:
            raise ConfigError(
                "system 'jscc-import' takes exactly one option, outcomes: a path template such as "
                "'dir/{channel}-{csi}-snr{snr_db:g}-cbr{cbr:.6g}-s{seed}.npz'"
            )

    def path_for(self, cell: Cell) -> Path:
        try:
            return Path(str(self.options["outcomes"]).format(**dataclasses.asdict(cell)))
        except (KeyError, ValueError, IndexError) as exc:
            raise ConfigError(
                f"jscc-import: bad outcomes template {self.options['outcomes']!r}: {exc}"
            ) from None

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        k = cell.k(ctx.source_dim)
        bridge = open_bridge(cell.channel, cell.csi, cell.seed, ctx.options.get("grid"))
        return import_outcomes(
            self.path_for(cell), ctx, fingerprint=bridge.fingerprint(ctx.image_ids, k), k=k
        )
