"""Train a semantic codec through the bridge, as the authors do but selected at fixed SNRs.

Recipe (PAPER.md §Training, from the authors' code): features of the training split; a validation query
set and a validation knowledge base held out from it (``kbsc.data.splits.train_validation_split``); MSE
between the decoded and the input feature; Adam; batch 128; one SNR per batch drawn uniformly from
{-7, -4, 0, 4, 7, 10} dB; model selection on validation top-1 accuracy with early stopping. Differences, on
purpose:

* the channel is the bridge (same grid, channel model, estimator and equalizer as evaluation), on realization
  seeds and image ids disjoint from evaluation (:mod:`kbsc.semantic.channel`);
* validation accuracy is the mean over FIXED SNRs (default −4, 0, 4 dB) on FIXED realizations, not random
  ones;
* an optional retrieval-aware term: InfoNCE between the decoded features and the batch's input features
  (``contrastive_weight``, temperature ``temperature``); 0 = the paper's pure MSE.

Budgets (:mod:`kbsc.training.loop`): training runs until ``patience`` validations in a row (one every
``eval_every`` steps) bring no gain in validation accuracy, at least ``min_steps`` and at most ``max_steps``
optimizer steps whatever the dataset's size; the learning rate halves after two validations without gain; the
best-validation weights are kept. Settings: ``paper`` = the authors' lr 1e-4 and ≤ 100 epochs of
synthetic100/CIFAR-100 (40,000 steps), patience 20 validations of 400 steps (their 20 epochs). ``quick`` =
lr 3e-3 (larger, to make up for far fewer steps), at most 1,500 steps, a validation every 50, patience 4:
a codec trains in about 10–40 s on one core. (The ceiling was 600, the former 6 × 100; one of the quick
preset's 12 codecs, k=128 on OFDM Rayleigh, then hit it with patience not yet spent, so its verdict was
"not converged"; the others stopped on patience before 600.)

Determinism: the model is initialised from ``torch.manual_seed(seed)``; the data order of epoch e comes from a
generator seeded by (seed, e) and the SNR of step t from one seeded by (seed, t); the channel realizations
are keyed; training runs with a fixed number of threads. The same seed therefore gives the same weights, and
a run interrupted and resumed from its ``resume.pt`` gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kbsc.bridge.channel_spec import channel_slug
from kbsc.data.splits import train_validation_split
from kbsc.errors import ConfigError, DataError
from kbsc.semantic import csi_codec as _csi_codec  # noqa: F401  (registers kbsc-csi)
from kbsc.semantic import reference as _reference  # noqa: F401  (registers kbsc-no-codec)
from kbsc.semantic.channel import (
    ID_STRIDE,
    TRAIN_ID_BASE,
    TRAIN_SEED_BASE,
    VAL_ID_BASE,
    VAL_SEED_BASE,
    open_bridge,
)
from kbsc.semantic.codec import CODECS, POWER_NORMS, SemanticCodec
from kbsc.semantic.transmit import top1_inner, transmit
from kbsc.training import Budget, TrainingReport, TrainTask
from kbsc.training.optim import adam
from kbsc.training.settings import TrainSettings
from kbsc.training.store import derive_seed
from kbsc.util import hash_array
from kbsc.util.device import current_device, module_device
from kbsc.util.registry import Registry

__all__ = [
    "AUTHORS_SNRS",
    "SETTINGS",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "build_codec",
    "load_codec",
    "model_dir",
    "train_codec",
    "training_data",
    "validation_accuracy",
]

AUTHORS_SNRS = (-7.0, -4.0, 0.0, 4.0, 7.0, 10.0)
VAL_SNRS = (-4.0, 0.0, 4.0)
REALIZATION_STEPS = 100  # training realizations are renewed every this many steps

SETTINGS: Registry[dict[str, Any]] = Registry("training setting")
SETTINGS.add(
    "paper",
    {
        "lr": 1e-4,
        "max_steps": 40_000,
        "min_steps": 0,
        "eval_every": 400,
        "patience": 20,
        "plateau_factor": 1.0,
    },
)
SETTINGS.add(
    "quick",
    {"lr": 3e-3, "max_steps": 1500, "min_steps": 150, "eval_every": 50, "patience": 4, "plateau_factor": 0.5},
)

FORMAT_VERSION = 2  # 2: step budgets and the shared training loop (training report in the manifest)


@dataclass(frozen=True)
class TrainConfig(TrainSettings):
    """Everything that determines a trained codec (its hash names the checkpoint).

    ``lr``, ``max_steps``, ``min_steps``, ``eval_every``, ``patience``: None = the setting's value (filled
    as written, unconverted: the hashes of existing codecs depend on it).
    """

    SETTINGS = SETTINGS
    BUDGET_KEYS = ("lr", "max_steps", "min_steps", "eval_every", "patience")
    FORMAT_VERSION = FORMAT_VERSION
    KIND = "kbsc-semantic-codec"
    OPTION_LABEL = "codec training"

    variant: str = "kbsc"
    k: int = 128
    channel: str = "awgn"
    csi: str = "perfect"
    seed: int = 0
    setting: str = "quick"
    max_steps: int | None = None
    min_steps: int | None = None
    eval_every: int | None = None
    lr: float | None = None
    patience: int | None = None
    batch_size: int = 128
    train_snrs: tuple[float, ...] = AUTHORS_SNRS
    val_snrs: tuple[float, ...] = VAL_SNRS
    contrastive_weight: float = 0.0
    temperature: float = 0.1
    power_norm: str = "image"
    hidden: int = 384
    grid: dict[str, Any] | None = None
    split_seed: int = 0
    train_pool: int = 2048
    threads: int = 1

    def resolved(self) -> TrainConfig:
        """Fill the budget from the setting and validate (one-line ConfigError)."""
        cfg = dataclasses.replace(
            self.filled(),
            train_snrs=tuple(float(s) for s in self.train_snrs),
            val_snrs=tuple(float(s) for s in self.val_snrs),
        )
        CODECS.get(cfg.variant)
        if cfg.k < 1:
            raise ConfigError(f"k must be ≥ 1 channel use per image, got {cfg.k}")
        if cfg.batch_size < 2 or cfg.lr <= 0:
            raise ConfigError("batch_size ≥ 2 and lr > 0 are required")
        cfg.budget()  # max_steps / eval_every / patience / min_steps
        if not cfg.train_snrs or not cfg.val_snrs:
            raise ConfigError("train_snrs and val_snrs must not be empty")
        if cfg.train_pool < 0:
            raise ConfigError(
                f"train_pool must be ≥ 0 (0 = a fresh realization per image), got {cfg.train_pool}"
            )
        if cfg.power_norm not in POWER_NORMS:
            raise ConfigError(
                f"unknown power_norm {cfg.power_norm!r}; choose one of: {', '.join(POWER_NORMS)}"
            )
        if cfg.contrastive_weight < 0 or cfg.temperature <= 0:
            raise ConfigError("contrastive_weight must be ≥ 0 and temperature > 0")
        return cfg

    def budget(self) -> Budget:
        """The loop's budget (call on a resolved config)."""
        return self.loop_budget(
            schedule="plateau", plateau_factor=float(self.setting_values()["plateau_factor"])
        )


@dataclass
class TrainData:
    """Features the codec trains and is selected on (all float32 unit-norm rows, int64 ids/labels).

    fit_features ``[N, 512]``, fit_ids ``[N]``; val_features ``[Q, 512]``, val_labels ``[Q]``, val_ids
    ``[Q]``; val_kb_features ``[M, 512]``, val_kb_labels ``[M]``.
    """

    fit_features: np.ndarray
    fit_ids: np.ndarray
    val_features: np.ndarray
    val_labels: np.ndarray
    val_ids: np.ndarray
    val_kb_features: np.ndarray
    val_kb_labels: np.ndarray
    extractor: str = ""
    feature_hash: str = ""

    def __post_init__(self) -> None:
        if not self.feature_hash:
            self.feature_hash = hash_array(self.fit_features) + hash_array(self.val_kb_features)[:8]


def training_data(ws: Any, split_seed: int = 0, val_per_class: int = 5) -> TrainData:
    """Split a workspace's training features into fit / validation queries / validation KB."""

    labels = np.asarray(ws.train.labels)
    fit, vq, vkb = train_validation_split(
        labels, split_seed, val_query_per_class=val_per_class, val_kb_per_class=val_per_class
    )
    feats = np.asarray(ws.train_features, dtype=np.float32)
    ids = np.asarray(ws.train.ids, dtype=np.int64)
    return TrainData(
        fit_features=feats[fit],
        fit_ids=ids[fit],
        val_features=feats[vq],
        val_labels=labels[vq].astype(np.int64),
        val_ids=ids[vq],
        val_kb_features=feats[vkb],
        val_kb_labels=labels[vkb].astype(np.int64),
        extractor=str(getattr(ws.extractor, "fingerprint", "")),
    )


@dataclass
class TrainResult:
    """A trained codec and how it got there (``report`` is None for an untrained codec)."""

    codec: SemanticCodec
    path: Path | None
    report: TrainingReport | None = None
    cached: bool = False

    @property
    def best_val_acc(self) -> float:
        return self.report.best if self.report is not None else float("nan")

    @property
    def best_step(self) -> int:
        return self.report.best_step if self.report is not None else 0

    @property
    def history(self) -> list[dict[str, float]]:
        return self.report.curve if self.report is not None else []

    @property
    def wall_s(self) -> float:
        return self.report.wall_s if self.report is not None else 0.0


def build_codec(cfg: TrainConfig) -> SemanticCodec:
    """A fresh codec for ``cfg`` (initialised from ``torch.manual_seed(cfg.seed)``)."""
    torch.manual_seed(cfg.seed)
    factory = CODECS.get(cfg.variant)
    if getattr(factory, "trainable", True):
        return factory(cfg.k, hidden=cfg.hidden, power_norm=cfg.power_norm)
    return factory(cfg.k)


def model_dir(root: Path, cfg: TrainConfig) -> Path:
    """Checkpoint folder of ``cfg`` under ``root`` (name readable, hash exact)."""

    return (
        Path(root)
        / f"{cfg.variant}-k{cfg.k}-{channel_slug(cfg.channel)}-{cfg.csi}-s{cfg.seed}-{cfg.hash()[:12]}"
    )


def _data_keys(data: TrainData) -> dict[str, Any]:
    """What of the training data a finished codec's manifest must match."""
    return {"extractor": data.extractor, "train_features": data.feature_hash}


def load_codec(path: Path, cfg: TrainConfig | None = None) -> SemanticCodec:
    """Load ``path/model.pt`` (weights only) into a codec built from its stored config."""
    return TrainConfig.load_checkpoint(path, cfg, build_codec, what="codec", hint="run `kbsc train`")


def _info_nce(f_hat: torch.Tensor, f: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy of matching each decoded feature to its own input among the batch's inputs."""
    logits = F.normalize(f_hat, dim=1) @ F.normalize(f, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(f.shape[0], device=logits.device))


@torch.no_grad()
def validation_accuracy(
    codec: SemanticCodec, bridge: Any, data: TrainData, snrs: tuple[float, ...], batch: int = 1024
) -> dict[float, float]:
    """Top-1 accuracy on the validation queries at each fixed SNR (fixed realizations)."""
    codec.eval()
    device = module_device(codec)
    q = torch.from_numpy(data.val_features)
    ids = torch.from_numpy(data.val_ids + VAL_ID_BASE)
    kb = torch.from_numpy(data.val_kb_features).to(device)
    kb_labels = torch.from_numpy(data.val_kb_labels).to(device)
    labels = torch.from_numpy(data.val_labels).to(device)
    out: dict[float, float] = {}
    for snr in snrs:
        hits = 0
        for s in range(0, len(q), batch):
            f_hat = transmit(codec, bridge, q[s : s + batch], ids[s : s + batch], snr)
            hits += int((top1_inner(f_hat, kb, kb_labels) == labels[s : s + batch]).sum())
        out[float(snr)] = hits / len(q)
    return out


def train_codec(
    cfg: TrainConfig,
    data: TrainData,
    root: Path | None = None,
    *,
    resume: bool = True,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> TrainResult:
    """Train (or load from ``root``) the codec of ``cfg`` on ``data``.

    ``root``: checkpoint folder parent (None = keep nothing on disk). A finished checkpoint with a matching
    manifest is loaded; a different one is retrained. ``stop_after``: stop after this many steps in this call
    (as if interrupted; the next call resumes). Returns the best-validation model in eval mode.
    """
    cfg = cfg.resolved()
    codec = build_codec(cfg)
    if not codec.trainable:
        return TrainResult(codec.eval(), None)
    path = model_dir(root, cfg) if root is not None else None
    model, report, cached, path = cfg.train_or_load(
        path,
        _data_keys(data),
        lambda p: load_codec(p, cfg),
        lambda: _CodecTraining(cfg, data, codec),
        resume=resume,
        stop_after=stop_after,
        show_progress=show_progress,
        desc=f"train {cfg.variant} k={cfg.k} {cfg.channel}",
    )
    return TrainResult(model, path, report, cached)


class _CodecTraining:
    """The codec's part of the loop: batches of fit features at one SNR each, MSE (+ InfoNCE) loss, mean
    validation accuracy over the fixed SNRs."""

    def __init__(self, cfg: TrainConfig, data: TrainData, codec: SemanticCodec) -> None:
        self.cfg, self.data, self.codec = cfg, data, codec
        self.device = current_device()
        self.model = codec.to(self.device)  # initialised on the CPU: the same start on every device
        slots = open_bridge(cfg.channel, cfg.csi, TRAIN_SEED_BASE + cfg.seed, cfg.grid).num_slots(cfg.k)
        self.train_bridge = open_bridge(
            cfg.channel,
            cfg.csi,
            TRAIN_SEED_BASE + cfg.seed,
            cfg.grid,
            cache_slots=max(2048, (cfg.train_pool + 1) * slots),
        )
        self.val_bridge = open_bridge(
            cfg.channel,
            cfg.csi,
            VAL_SEED_BASE + cfg.seed,
            cfg.grid,
            cache_slots=max(2048, (len(data.val_ids) + 1) * slots),
        )
        self.fit = torch.from_numpy(np.ascontiguousarray(data.fit_features))
        self.fit_ids = torch.from_numpy(np.ascontiguousarray(data.fit_ids))
        self.batch = min(cfg.batch_size, len(self.fit))
        if self.batch < 2:
            raise DataError(f"the codec needs at least 2 training features, got {len(self.fit)}")

    def batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
        """Batch of step t: rows of the permutation of epoch t // per_epoch (seeded by (seed, epoch)), one
        SNR drawn by (seed, t), realization ids from a pool renewed every REALIZATION_STEPS steps."""
        cfg, n, b = self.cfg, len(self.fit), self.batch
        per_epoch = n // b
        snrs = np.asarray(cfg.train_snrs)
        perm_epoch, perm = -1, None
        for step in itertools.count(start):
            epoch, pos = divmod(step, per_epoch)
            if epoch != perm_epoch:
                perm = torch.randperm(
                    n, generator=torch.Generator().manual_seed(derive_seed(cfg.seed, epoch, 0))
                )
                perm_epoch = epoch
            idx = perm[pos * b : (pos + 1) * b]
            if cfg.train_pool:
                real = torch.arange(step * b, step * b + b) % cfg.train_pool
                ids = real + TRAIN_ID_BASE + (step // REALIZATION_STEPS) * ID_STRIDE
            else:
                ids = self.fit_ids[idx] + TRAIN_ID_BASE + epoch * ID_STRIDE
            snr = float(np.random.default_rng(derive_seed(cfg.seed, step, 1)).choice(snrs))
            yield self.fit[idx].to(self.device), ids, snr

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, float], step: int) -> torch.Tensor:
        f, ids, snr = batch
        f_hat = transmit(self.codec, self.train_bridge, f, ids, snr)
        loss = F.mse_loss(f_hat, f)
        if self.cfg.contrastive_weight > 0:
            loss = loss + self.cfg.contrastive_weight * _info_nce(f_hat, f, self.cfg.temperature)
        return loss

    def validate(self) -> dict[str, float]:
        accs = validation_accuracy(self.codec, self.val_bridge, self.data, self.cfg.val_snrs)
        return {
            "val_acc": float(np.mean(list(accs.values()))),
            **{f"val_acc_{s:g}dB": a for s, a in accs.items()},
        }

    def task(self) -> TrainTask:
        lr = float(self.cfg.lr)
        return TrainTask(
            model=self.codec,
            make_optimizer=lambda m: adam(m.parameters(), lr),
            loss=self.loss,
            batches=self.batches,
            validate=self.validate,
            metric="val_acc",
        )
