"""Train a pixel JSCC model through the bridge (same grid, channel model, estimator and equalizer as
evaluation).

Recipe: images of the training split (a fixed held-out slice of ``n_val`` images is kept for a validation
PSNR); each step takes a batch, draws one SNR per image uniformly from ``snr_range`` dB and (rate-adaptive
models) one ``k`` per batch, log-uniformly between ``round(cbr_range·n)``; encoder → bridge → decoder; MSE
loss (the PSNR objective of DeepJSCC/SwinJSCC; ``loss: ms-ssim`` trains on 1 − MS-SSIM instead); Adam
with the setting's learning-rate schedule (``schedule``: ``cosine`` decay to 10 % at the ceiling, or
``plateau``). Realizations come from seeds and image ids disjoint from
evaluation (:mod:`kbsc.jscc.channel`): every training step sees fresh ones.

Budgets (:mod:`kbsc.training.loop`): every ``eval_every`` steps the model is validated on the held-out
slice (mean PSNR over two SNRs of ``snr_range`` and, for a rate-adaptive model, two k); training stops when
``patience`` validations in a row bring no gain (after ``min_steps``), or at the ceiling ``max_steps``; the
best-validation weights are kept.

Settings (``setting``):

* ``quick`` – at most 1,800 steps of 32 images, lr 1e-3 (2e-3 and above learn more slowly or diverge:
  swinjscc at 600 steps 17.5 dB with 2e-3 vs 19.2 dB with 1e-3), a validation every 100 steps, patience 5.
  Sized for the demo, not for convergence: the training report says whether it converged.
* ``reference`` – at most 30,000 steps of 32 images, lr 1e-3, a validation every 500 steps; the ``plateau``
  schedule halves the learning rate after two validations that gain less than 0.05 dB and stops after six
  (patience): the budget of the committed reference models of the embedded default (``models/``), which the
  quick preset loads instead of training when they match (dataset, configuration, code format).
* ``paper`` – at most 60,000 steps of 64 images, lr 5e-4, a validation every 1,000 steps, patience 8: the
  order of the papers' budgets, hours per model on a CPU (see ``kbsc bench``'s ``train_steps_per_s``).
* ``gpu`` – for the paper-size models (``model_options: {size: paper}``, :mod:`kbsc.jscc.sizes`) on a GPU:
  at most 200,000 steps of 128 images, lr 1e-4 (SwinJSCC's and ADJSCC's), a validation every 2,000 steps,
  the ``plateau`` schedule and convergence rule of ``reference`` (patience 6). A paper-size model is
  trained only on a GPU.

Determinism: the model is initialised from ``torch.manual_seed(seed)``; the batch of step t comes from the
permutation of epoch ⌊t/steps_per_epoch⌋, seeded by (seed, epoch); the SNR and k draws of step t are seeded by
(seed, t); the channel realizations are keyed. A run interrupted and resumed from its checkpoint gives the
same weights as an uninterrupted one. Checkpoints live in ``<data dir>/jscc/<name>/`` with ``model.pt``
(weights only) and a manifest (config hash, training-set fingerprint, training report); ``resume.pt`` holds
the state in between (written at every validation).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kbsc.bridge.channel_spec import channel_slug
from kbsc.errors import ConfigError, DataError
from kbsc.jscc import deepjscc as _deepjscc  # noqa: F401  (registers the models)
from kbsc.jscc import swinjscc as _swinjscc  # noqa: F401
from kbsc.jscc.base import JSCCModel
from kbsc.jscc.channel import (
    ID_STRIDE,
    TRAIN_ID_BASE,
    TRAIN_SEED_BASE,
    VAL_ID_BASE,
    VAL_SEED_BASE,
    open_bridge,
)
from kbsc.jscc.losses import LOSSES
from kbsc.jscc.metrics import to_tensor
from kbsc.jscc.registry import MODELS
from kbsc.jscc.sizes import check_trainable_here, size_options
from kbsc.training import Budget, TrainingReport, TrainTask
from kbsc.training.optim import adam
from kbsc.training.settings import TrainSettings
from kbsc.training.store import derive_seed
from kbsc.util import hash_array
from kbsc.util.cbr import cbr_to_k
from kbsc.util.device import current_device, module_device
from kbsc.util.registry import Registry

__all__ = [
    "SETTINGS",
    "JSCCTrainConfig",
    "TrainImages",
    "TrainResult",
    "build_model",
    "load_model",
    "model_dir",
    "train_images",
    "train_model",
]

SETTINGS: Registry[dict[str, Any]] = Registry("JSCC training setting")
_Q = {
    "max_steps": 1800,
    "min_steps": 300,
    "eval_every": 100,
    "patience": 5,
    "batch_size": 32,
    "lr": 1e-3,
    "schedule": "cosine",
}
SETTINGS.add("quick", _Q)
SETTINGS.add(
    "paper",
    {
        "max_steps": 60_000,
        "min_steps": 5000,
        "eval_every": 1000,
        "patience": 8,
        "batch_size": 64,
        "lr": 5e-4,
        "schedule": "cosine",
    },
)
SETTINGS.add(  # the committed reference models of the embedded default (models/, see kbsc.training.reference)
    "reference",
    {
        "max_steps": 30_000,
        "min_steps": 4000,
        "eval_every": 500,
        "patience": 6,
        "batch_size": 32,
        "lr": 1e-3,
        "schedule": "plateau",
    },
)
SETTINGS.add(  # paper-size models on a GPU (kbsc.jscc.sizes): batch and learning rate of SwinJSCC's and
    # ADJSCC's training, the reference setting's plateau schedule and convergence rule, a GPU-sized ceiling
    "gpu",
    {
        "max_steps": 200_000,
        "min_steps": 20_000,
        "eval_every": 2000,
        "patience": 6,
        "batch_size": 128,
        "lr": 1e-4,
        "schedule": "plateau",
    },
)
SETTINGS.add(  # tests
    "tiny",
    {
        "max_steps": 60,
        "min_steps": 0,
        "eval_every": 10,
        "patience": 5,
        "batch_size": 16,
        "lr": 3e-3,
        "schedule": "cosine",
    },
)
#: a validation that gains less than this (dB) counts as no gain for the plateau schedule and patience
PLATEAU_MIN_DELTA_DB = 0.05

# 2: DeepJSCC normalization defaults to BatchNorm (GDN checkpoints are retrained); 3: step budgets, the
# shared training loop and its report
FORMAT_VERSION = 3


@dataclass(frozen=True)
class JSCCTrainConfig(TrainSettings):
    """Everything that determines a trained model (its hash names the checkpoint).

    k: channel uses for a fixed-rate model (``deepjscc``…); None for a rate-adaptive one, which trains on
    ``cbr_range``. source_dim: n = H·W·3 of the images (CBR → k). model_options: constructor arguments
    (``width``, ``c1``, ``latent_channels``, …).
    """

    SETTINGS = SETTINGS
    BUDGET_KEYS = ("max_steps", "min_steps", "eval_every", "patience", "batch_size", "lr", "schedule")
    BUDGET_TYPES = {
        "max_steps": int,
        "min_steps": int,
        "eval_every": int,
        "patience": int,
        "batch_size": int,
        "lr": float,
        "schedule": str,
    }
    SETTING_DEFAULTS = {"schedule": "cosine"}
    FORMAT_VERSION = FORMAT_VERSION
    KIND = "kbsc-jscc-model"
    OPTION_LABEL = "JSCC training"

    model: str = "deepjscc"
    k: int | None = None
    channel: str = "awgn"
    csi: str = "perfect"
    seed: int = 0
    setting: str = "quick"
    max_steps: int | None = None
    min_steps: int | None = None
    eval_every: int | None = None
    patience: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    schedule: str | None = None
    snr_range: tuple[float, float] = (-5.0, 15.0)
    cbr_range: tuple[float, float] = (1 / 48, 1 / 2)
    loss: str = "mse"
    n_val: int = 256
    model_options: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, Any] | None = None
    source_dim: int = 3072
    threads: int = 1

    def resolved(self) -> JSCCTrainConfig:
        """Fill the budget, ``batch_size`` and ``lr`` from the setting and validate (one-line ConfigError)."""
        filled = self.filled()
        cls = MODELS.get(self.model)
        cfg = dataclasses.replace(
            filled,
            snr_range=(float(self.snr_range[0]), float(self.snr_range[-1])),
            cbr_range=(float(self.cbr_range[0]), float(self.cbr_range[-1])),
            model_options=dict(self.model_options),
        )
        if cfg.batch_size < 1 or cfg.lr <= 0:
            raise ConfigError("JSCC training needs batch_size ≥ 1 and lr > 0")
        cfg.budget()
        if cfg.snr_range[0] > cfg.snr_range[1] or not 0 < cfg.cbr_range[0] <= cfg.cbr_range[1]:
            raise ConfigError(
                f"snr_range {cfg.snr_range} and cbr_range {cfg.cbr_range} must be [low, high] "
                "with 0 < cbr low"
            )

        size_options(cfg.model, cfg.model_options)  # an unknown size is refused here, before a run starts
        if cfg.loss not in LOSSES:
            raise ConfigError(
                f"JSCC loss {cfg.loss!r} is not available; choose one of: {', '.join(LOSSES.names())}"
            )
        if getattr(cls, "rate_adaptive", False):
            cfg = dataclasses.replace(cfg, k=None)
        elif cfg.k is None or cfg.k < 1:
            raise ConfigError(
                f"model {cfg.model!r} is trained for one k (channel uses per image); got k={cfg.k}"
            )
        return cfg

    def budget(self) -> Budget:
        """The loop's budget (on a resolved config): ``cosine`` decays the learning rate to 10 % at the
        ceiling; ``plateau`` halves it after two validations that gain less than
        :data:`PLATEAU_MIN_DELTA_DB`, and patience counts such validations."""
        plateau = self.schedule == "plateau"
        return self.loop_budget(
            schedule=str(self.schedule),
            lr_floor=0.1,
            min_delta=PLATEAU_MIN_DELTA_DB if plateau else 0.0,
            tolerance=0.1,  # dB of validation PSNR
        )

    def k_range(self) -> tuple[int, int]:
        """Channel uses per image a rate-adaptive model trains on: round(cbr_range · n), at least 1."""
        lo, hi = (max(1, cbr_to_k(c, self.source_dim)) for c in self.cbr_range)
        return lo, hi


@dataclass
class TrainImages:
    """Training images uint8 ``[N, H, W, 3]`` with their ids ``[N]`` (training-split ids) and fingerprint."""

    images: np.ndarray
    ids: np.ndarray
    fingerprint: str = ""

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64)
        if not self.fingerprint:
            self.fingerprint = hash_array(self.images)


def train_images(ws: Any) -> TrainImages:
    """The training split of a workspace."""
    train = ws.train
    return TrainImages(np.asarray(train.images), np.asarray(train.ids), str(train.fingerprint))


@dataclass
class TrainResult:
    """A trained model and how it got there."""

    model: JSCCModel
    path: Path | None
    report: TrainingReport
    cached: bool = False

    @property
    def history(self) -> list[dict[str, float]]:
        return self.report.curve

    @property
    def val_psnr(self) -> float:
        return self.report.best

    @property
    def wall_s(self) -> float:
        return self.report.wall_s

    @property
    def steps(self) -> int:
        return self.report.steps


def build_model(cfg: JSCCTrainConfig) -> JSCCModel:
    """A fresh model for ``cfg`` (initialised from ``torch.manual_seed(cfg.seed)``)."""

    cls = MODELS.get(cfg.model)
    opts = size_options(cfg.model, cfg.model_options)  # size: paper → the published architecture
    side = int(round(math.sqrt(cfg.source_dim / 3)))
    opts.setdefault("image_size", side)
    if getattr(cls, "rate_adaptive", False):
        need = -(-2 * cfg.k_range()[1] // ((side // 4) ** 2))
        opts.setdefault("latent_channels", max(48, need))
    torch.manual_seed(cfg.seed)
    try:
        model = cls(k=cfg.k, **opts)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot build JSCC model {cfg.model!r} with options {opts}: {exc}") from None
    if cfg.k is None and model.max_k < cfg.k_range()[1]:
        raise ConfigError(
            f"{cfg.model} with {opts} carries at most {model.max_k} symbols per image but cbr_range "
            f"reaches k={cfg.k_range()[1]}; raise latent_channels or lower cbr_range"
        )
    return model


def model_dir(root: Path, cfg: JSCCTrainConfig) -> Path:
    """Checkpoint folder of ``cfg`` under ``root`` (readable name, exact hash)."""
    rate = f"k{cfg.k}" if cfg.k is not None else "kvar"

    return (
        Path(root) / f"{cfg.model}-{rate}-{channel_slug(cfg.channel)}-{cfg.csi}-s{cfg.seed}-{cfg.hash()[:12]}"
    )


def _data_keys(data: TrainImages) -> dict[str, Any]:
    """What of the training data a finished model's manifest must match."""
    return {"train_images": data.fingerprint}


def load_model(path: Path, cfg: JSCCTrainConfig | None = None) -> JSCCModel:
    """Load ``path/model.pt`` (weights only) into a model built from its stored config."""
    hint = "run the grid (or `kbsc jscc train`) to train it"
    return JSCCTrainConfig.load_checkpoint(path, cfg, build_model, what="JSCC model", hint=hint)


def step_draws(cfg: JSCCTrainConfig, step: int, batch: int) -> tuple[np.ndarray, int]:
    """SNRs ``[batch]`` (dB) and the k of training step ``step`` (pure function of (seed, step))."""
    rng = np.random.default_rng(derive_seed(cfg.seed, step, 1))
    snr = rng.uniform(cfg.snr_range[0], cfg.snr_range[1], size=batch).astype(np.float32)
    if cfg.k is not None:
        return snr, int(cfg.k)
    lo, hi = cfg.k_range()
    k = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
    return snr, min(max(k, lo), hi)


@torch.no_grad()
def validation_psnr(
    model: JSCCModel,
    bridge: Any,
    images: np.ndarray,
    ids: np.ndarray,
    k: int,
    snr_db: float,
    batch: int = 128,
) -> float:
    """Mean PSNR (dB, peak 1) of ``images`` through ``bridge`` at one SNR and k, on fixed realizations."""
    model.eval()
    device = module_device(model)
    vals = []
    for s in range(0, len(images), batch):
        x = to_tensor(images[s : s + batch]).to(device)
        snr = torch.full((x.shape[0],), float(snr_db))
        xh = model(x, snr, k, bridge, torch.from_numpy(ids[s : s + batch] + VAL_ID_BASE))
        mse = ((xh - x) ** 2).flatten(1).mean(1).clamp_min(1e-10)
        vals.append((-10 * torch.log10(mse)).cpu().numpy())
    return float(np.concatenate(vals).mean()) if vals else float("nan")


def validation_points(cfg: JSCCTrainConfig) -> list[tuple[float, int]]:
    """(SNR dB, k) pairs of the validation PSNR: the quartiles of ``snr_range`` × the model's k (or, rate
    adaptive, the geometric mean and the top of the k range)."""
    lo, hi = cfg.snr_range
    snrs = sorted({lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)})
    if cfg.k is not None:
        ks = [int(cfg.k)]
    else:
        k_lo, k_hi = cfg.k_range()
        ks = sorted({int(round(math.sqrt(k_lo * k_hi))), k_hi})
    return [(s, k) for s in snrs for k in ks]


def train_model(
    cfg: JSCCTrainConfig,
    data: TrainImages,
    root: Path | None = None,
    *,
    resume: bool = True,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> TrainResult:
    """Train (or load from ``root``) the model of ``cfg`` on ``data``.

    root: parent of the checkpoint folder (None = nothing on disk). A finished checkpoint with a matching
    manifest is loaded; otherwise training starts (or resumes from ``resume.pt``). stop_after: stop after this
    many steps in this call (as if interrupted; the next call resumes).
    """
    cfg = cfg.resolved()
    path = model_dir(root, cfg) if root is not None else None
    model, report, cached, path = cfg.train_or_load(
        path,
        _data_keys(data),
        lambda p: load_model(p, cfg),
        lambda: _JSCCTraining(cfg, data),
        resume=resume,
        stop_after=stop_after,
        show_progress=show_progress,
        desc=f"train {cfg.model} {cfg.channel}/{cfg.csi}",
    )
    return TrainResult(model, path, report, cached)


class _JSCCTraining:
    """The model's part of the loop: batches of training images with per-image SNRs (and one k per batch),
    the configured pixel loss, validation PSNR on a fixed held-out slice at fixed realizations."""

    def __init__(self, cfg: JSCCTrainConfig, data: TrainImages) -> None:
        check_trainable_here(cfg.model, cfg.model_options, current_device())  # paper size: GPU only
        self.cfg, self.data = cfg, data
        self.device = current_device()
        self.model = build_model(cfg)
        n_all = len(data.ids)
        n_val = min(cfg.n_val, max(n_all // 5, 0))
        order = np.random.default_rng(derive_seed(cfg.seed, 0, 7)).permutation(n_all)
        self.val_idx, self.fit_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        if len(self.fit_idx) == 0 or n_val == 0:
            raise DataError(f"the JSCC model needs at least 5 training images, got {n_all}")
        self.batch = min(cfg.batch_size, len(self.fit_idx))
        self.loss_fn = LOSSES.get(cfg.loss)
        self.bridge = open_bridge(cfg.channel, cfg.csi, TRAIN_SEED_BASE + cfg.seed, cfg.grid)
        self.val_bridge = open_bridge(cfg.channel, cfg.csi, VAL_SEED_BASE + cfg.seed, cfg.grid)
        self.val_images = np.ascontiguousarray(data.images[self.val_idx])
        self.val_ids = data.ids[self.val_idx]
        self.model.fit_statistics(data.images[self.fit_idx])  # a resumed run's checkpoint overwrites them
        self.model.to(self.device)  # initialised and fitted on the CPU: the same start on every device

    def batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]]:
        """Batch of step t: slice t mod per_epoch of the permutation of epoch t // per_epoch."""
        cfg, b = self.cfg, self.batch
        per_epoch = max(1, len(self.fit_idx) // b)
        perm_epoch, perm = -1, None
        for step in itertools.count(start):
            epoch, pos = divmod(step, per_epoch)
            if epoch != perm_epoch:
                perm = np.random.default_rng(derive_seed(cfg.seed, epoch, 0)).permutation(self.fit_idx)
                perm_epoch = epoch
            idx = perm[pos * b : (pos + 1) * b]
            snr, k = step_draws(cfg, step, len(idx))
            ids = torch.from_numpy(self.data.ids[idx] + TRAIN_ID_BASE + step * ID_STRIDE)
            yield to_tensor(self.data.images[idx]).to(self.device), torch.from_numpy(snr), k, ids

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, int, torch.Tensor], step: int) -> torch.Tensor:
        x, snr, k, ids = batch
        return self.loss_fn(self.model(x, snr, k, self.bridge, ids), x)

    def validate(self) -> dict[str, float]:
        out = {
            f"val_psnr_{snr:g}dB_k{k}": validation_psnr(
                self.model, self.val_bridge, self.val_images, self.val_ids, k, snr
            )
            for snr, k in validation_points(self.cfg)
        }
        return {"val_psnr": float(np.mean(list(out.values()))), **out}

    def task(self) -> TrainTask:
        lr = float(self.cfg.lr)
        return TrainTask(
            model=self.model,
            make_optimizer=lambda m: adam(m.parameters(), lr),
            loss=self.loss,
            batches=self.batches,
            validate=self.validate,
            metric="val_psnr",
        )
