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

Settings: ``paper`` = lr 1e-4, ≤ 100 full epochs, patience 20 (the authors'). ``quick`` = lr 3e-3 (larger, to
make up for far fewer steps), 6 "epochs" of 100 batches each (a fresh random 12,800 of the training features
per epoch, about 1.5 passes over synthetic100 in all), patience 3, so that a model trains in about 20 s on one
core.

Determinism: the model is initialised from ``torch.manual_seed(seed)``; the data order and SNR draws of epoch
e come from generators seeded by (seed, e); the channel realizations are keyed; training runs with a fixed
number of threads. The same seed therefore gives the same weights, and a run interrupted after epoch e and
resumed from its ``resume.pt`` gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock

from kbsc.errors import ConfigError, DataError
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
from kbsc.util import atomic_write_bytes, hash_array, hash_obj, progress, read_manifest, write_manifest
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
]

AUTHORS_SNRS = (-7.0, -4.0, 0.0, 4.0, 7.0, 10.0)
VAL_SNRS = (-4.0, 0.0, 4.0)

SETTINGS: Registry[dict[str, Any]] = Registry("training setting")
SETTINGS.add("paper", {"lr": 1e-4, "epochs": 100, "patience": 20, "steps_per_epoch": 0})
SETTINGS.add("quick", {"lr": 3e-3, "epochs": 6, "patience": 3, "steps_per_epoch": 100})

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained codec (its hash names the checkpoint)."""

    variant: str = "kbsc"
    k: int = 128
    channel: str = "awgn"
    csi: str = "perfect"
    seed: int = 0
    setting: str = "quick"
    epochs: int | None = None
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
    steps_per_epoch: int | None = None
    train_pool: int = 2048
    threads: int = 1

    def resolved(self) -> TrainConfig:
        """Fill ``epochs``/``lr``/``patience`` from the setting and validate."""
        base = SETTINGS.get(self.setting)
        cfg = dataclasses.replace(
            self,
            epochs=self.epochs if self.epochs is not None else base["epochs"],
            lr=self.lr if self.lr is not None else base["lr"],
            patience=self.patience if self.patience is not None else base["patience"],
            steps_per_epoch=self.steps_per_epoch
            if self.steps_per_epoch is not None
            else base["steps_per_epoch"],
            train_snrs=tuple(float(s) for s in self.train_snrs),
            val_snrs=tuple(float(s) for s in self.val_snrs),
        )
        CODECS.get(cfg.variant)
        if cfg.k < 1:
            raise ConfigError(f"k must be ≥ 1 channel use per image, got {cfg.k}")
        if cfg.epochs < 1 or cfg.batch_size < 2 or cfg.lr <= 0 or cfg.patience < 1:
            raise ConfigError("epochs ≥ 1, batch_size ≥ 2, lr > 0 and patience ≥ 1 are required")
        if not cfg.train_snrs or not cfg.val_snrs:
            raise ConfigError("train_snrs and val_snrs must not be empty")
        if cfg.steps_per_epoch < 0:
            raise ConfigError(f"steps_per_epoch must be ≥ 0 (0 = full passes), got {cfg.steps_per_epoch}")
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

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["train_snrs"] = list(self.train_snrs)
        d["val_snrs"] = list(self.val_snrs)
        return d

    def hash(self) -> str:
        d = self.as_dict()
        d.pop("threads")
        return hash_obj(d)


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
    from kbsc.data.splits import train_validation_split

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
    """A trained codec and how it got there."""

    codec: SemanticCodec
    path: Path | None
    best_epoch: int
    best_val_acc: float
    history: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    cached: bool = False


def build_codec(cfg: TrainConfig) -> SemanticCodec:
    """A fresh codec for ``cfg`` (initialised from ``torch.manual_seed(cfg.seed)``)."""
    torch.manual_seed(cfg.seed)
    factory = CODECS.get(cfg.variant)
    if getattr(factory, "trainable", True):
        return factory(cfg.k, hidden=cfg.hidden, power_norm=cfg.power_norm)
    return factory(cfg.k)


def model_dir(root: Path, cfg: TrainConfig) -> Path:
    """Checkpoint folder of ``cfg`` under ``root`` (name readable, hash exact)."""
    from kbsc.bridge.channel_spec import channel_slug

    return (
        Path(root)
        / f"{cfg.variant}-k{cfg.k}-{channel_slug(cfg.channel)}-{cfg.csi}-s{cfg.seed}-{cfg.hash()[:12]}"
    )


def _expected_manifest(cfg: TrainConfig, data: TrainData) -> dict[str, Any]:
    return {
        "kind": "kbsc-semantic-codec",
        "format": FORMAT_VERSION,
        "config_hash": cfg.hash(),
        "extractor": data.extractor,
        "train_features": data.feature_hash,
    }


def load_codec(path: Path, cfg: TrainConfig | None = None) -> SemanticCodec:
    """Load ``path/model.pt`` (weights only) into a codec built from its stored config."""
    path = Path(path)
    try:
        blob = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"no trained codec at {path}; run `kbsc train`") from None
    except Exception as exc:  # corrupt or foreign file
        raise DataError(
            f"{path / 'model.pt'} is not a codec checkpoint ({exc}); delete it to retrain"
        ) from None
    try:
        stored = TrainConfig(
            **{
                **blob["config"],
                "train_snrs": tuple(blob["config"]["train_snrs"]),
                "val_snrs": tuple(blob["config"]["val_snrs"]),
            }
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{path / 'model.pt'} is not a codec checkpoint (no valid config: {type(exc).__name__}: {exc}); "
            "delete it to retrain"
        ) from None
    if cfg is not None and stored.hash() != cfg.hash():
        raise DataError(f"codec at {path} was trained with a different configuration; delete it to retrain")
    codec = build_codec(stored)
    try:
        codec.load_state_dict(blob["state"])
    except (KeyError, TypeError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise DataError(
            f"{path / 'model.pt'} does not hold the codec's weights ({type(exc).__name__}: {first}); "
            "delete it to retrain"
        ) from None
    return codec.eval()


def _serialize(obj: Any) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _info_nce(f_hat: torch.Tensor, f: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy of matching each decoded feature to its own input among the batch's inputs."""
    logits = F.normalize(f_hat, dim=1) @ F.normalize(f, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(f.shape[0]))


def _top1_inner(queries: torch.Tensor, kb: torch.Tensor, kb_labels: torch.Tensor) -> torch.Tensor:
    """Top-1 label by inner product (= L2 ranking for a unit-norm KB): ``[Q]``."""
    return kb_labels[(queries @ kb.T).argmax(dim=1)]


def transmit(
    codec: SemanticCodec, bridge: Any, f: torch.Tensor, ids: torch.Tensor, snr_db: float
) -> torch.Tensor:
    """Encoder → bridge → decoder for one batch at one SNR: ``[B, 512]`` → ``[B, 512]``."""
    snr = torch.full((f.shape[0],), float(snr_db))
    x = codec.encode(f, snr)
    out = bridge.transmit(x, ids, float(snr_db))
    return codec.decode(out.y, snr, out.noise_var)


@torch.no_grad()
def validation_accuracy(
    codec: SemanticCodec, bridge: Any, data: TrainData, snrs: tuple[float, ...], batch: int = 1024
) -> dict[float, float]:
    """Top-1 accuracy on the validation queries at each fixed SNR (fixed realizations)."""
    codec.eval()
    q = torch.from_numpy(data.val_features)
    ids = torch.from_numpy(data.val_ids + VAL_ID_BASE)
    kb = torch.from_numpy(data.val_kb_features)
    kb_labels = torch.from_numpy(data.val_kb_labels)
    labels = torch.from_numpy(data.val_labels)
    out: dict[float, float] = {}
    for snr in snrs:
        hits = 0
        for s in range(0, len(q), batch):
            f_hat = transmit(codec, bridge, q[s : s + batch], ids[s : s + batch], snr)
            hits += int((_top1_inner(f_hat, kb, kb_labels) == labels[s : s + batch]).sum())
        out[float(snr)] = hits / len(q)
    return out


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0])


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
    manifest is loaded; a different one is retrained. ``stop_after``: stop after this many epochs in this call
    (as if interrupted; the next call resumes). Returns the best-validation model in eval mode.
    """
    cfg = cfg.resolved()
    codec = build_codec(cfg)
    if not codec.trainable:
        return TrainResult(codec.eval(), None, 0, float("nan"))
    if root is None:
        return _train_now(cfg, data, codec, None, {}, resume, stop_after, show_progress)
    path = model_dir(root, cfg)
    expected = _expected_manifest(cfg, data)
    path.mkdir(parents=True, exist_ok=True)
    # one trainer per checkpoint folder (parallel workers may ask for the same model)
    with FileLock(str(path / ".lock")):
        cached = _load_finished(path, cfg, expected)
        if cached is not None:
            return cached
        return _train_now(cfg, data, codec, path, expected, resume, stop_after, show_progress)


def _load_finished(path: Path, cfg: TrainConfig, expected: dict[str, Any]) -> TrainResult | None:
    """The finished checkpoint at ``path`` if its manifest matches ``expected``, else None (retrain)."""
    if not (path / "model.pt").exists():
        return None
    try:
        stored = read_manifest(path)
        if not (all(stored.get(k) == v for k, v in expected.items()) and stored.get("complete")):
            return None
        return TrainResult(
            load_codec(path, cfg),
            path,
            int(stored["best_epoch"]),
            float(stored["best_val_acc"]),
            stored.get("history", []),
            float(stored.get("wall_s", 0.0)),
            cached=True,
        )
    except DataError:
        return None


def _train_now(
    cfg: TrainConfig,
    data: TrainData,
    codec: SemanticCodec,
    path: Path | None,
    expected: dict[str, Any],
    resume: bool,
    stop_after: int | None,
    show_progress: bool,
) -> TrainResult:
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, data, codec, path, expected, resume, stop_after, show_progress)
    finally:
        torch.set_num_threads(threads)


def _train(
    cfg: TrainConfig,
    data: TrainData,
    codec: SemanticCodec,
    path: Path | None,
    expected: dict[str, Any],
    resume: bool,
    stop_after: int | None,
    show_progress: bool,
) -> TrainResult:
    opt = torch.optim.Adam(codec.parameters(), lr=cfg.lr)
    probe = open_bridge(cfg.channel, cfg.csi, TRAIN_SEED_BASE + cfg.seed, cfg.grid)
    slots = probe.num_slots(cfg.k)
    train_bridge = open_bridge(
        cfg.channel,
        cfg.csi,
        TRAIN_SEED_BASE + cfg.seed,
        cfg.grid,
        cache_slots=max(2048, (cfg.train_pool + 1) * slots),
    )
    val_bridge = open_bridge(
        cfg.channel,
        cfg.csi,
        VAL_SEED_BASE + cfg.seed,
        cfg.grid,
        cache_slots=max(2048, (len(data.val_ids) + 1) * slots),
    )
    fit = torch.from_numpy(np.ascontiguousarray(data.fit_features))
    fit_ids = torch.from_numpy(np.ascontiguousarray(data.fit_ids))
    n = fit.shape[0]
    n_batches = n // cfg.batch_size if n >= cfg.batch_size else 1
    if cfg.steps_per_epoch:
        n_batches = min(n_batches, cfg.steps_per_epoch)
    state = {
        "epoch": 0,
        "best_acc": -1.0,
        "best_epoch": -1,
        "best_state": None,
        "since_best": 0,
        "history": [],
        "wall_s": 0.0,
    }

    resume_file = path / "resume.pt" if path is not None else None
    if resume and resume_file is not None and resume_file.exists():
        try:
            blob = torch.load(resume_file, map_location="cpu", weights_only=True)
            if blob.get("config_hash") == cfg.hash() and blob.get("train_features") == data.feature_hash:
                codec.load_state_dict(blob["model"])
                opt.load_state_dict(blob["optimizer"])
                state = blob["state"]
        except Exception:  # unreadable resume file: start over
            pass

    t_start = time.perf_counter() - float(state["wall_s"])
    epochs_this_call = 0
    bar = progress(
        total=cfg.epochs,
        initial=state["epoch"],
        desc=f"train {cfg.variant} k={cfg.k} {cfg.channel}",
        disable=None if show_progress else True,
    )
    while state["epoch"] < cfg.epochs and state["since_best"] < cfg.patience:
        epoch = state["epoch"]
        codec.train()
        g = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, 0))
        perm = torch.randperm(n, generator=g)
        snr_rng = np.random.default_rng(_epoch_seed(cfg.seed, epoch, 1))
        snrs = snr_rng.choice(np.asarray(cfg.train_snrs), size=n_batches)
        losses = []
        for b in range(n_batches):
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            f = fit[idx]
            if cfg.train_pool:
                real = torch.arange(b * cfg.batch_size, b * cfg.batch_size + len(idx)) % cfg.train_pool
            else:
                real = fit_ids[idx]
            ids = real + TRAIN_ID_BASE + epoch * ID_STRIDE
            f_hat = transmit(codec, train_bridge, f, ids, float(snrs[b]))
            loss = F.mse_loss(f_hat, f)
            if cfg.contrastive_weight > 0:
                loss = loss + cfg.contrastive_weight * _info_nce(f_hat, f, cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        accs = validation_accuracy(codec, val_bridge, data, cfg.val_snrs)
        acc = float(np.mean(list(accs.values())))
        state["history"].append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "val_acc": acc,
                **{f"val_acc_{s:g}dB": a for s, a in accs.items()},
            }
        )
        if acc > state["best_acc"]:
            state.update(
                best_acc=acc,
                best_epoch=epoch,
                since_best=0,
                best_state={k: v.detach().clone() for k, v in codec.state_dict().items()},
            )
        else:
            state["since_best"] += 1
        state["epoch"] = epoch + 1
        state["wall_s"] = time.perf_counter() - t_start
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses):.2e}", val=f"{acc:.3f}")
        if resume_file is not None:
            atomic_write_bytes(
                resume_file,
                _serialize(
                    {
                        "config_hash": cfg.hash(),
                        "train_features": data.feature_hash,
                        "model": codec.state_dict(),
                        "optimizer": opt.state_dict(),
                        "state": state,
                    }
                ),
            )
        epochs_this_call += 1
        if stop_after is not None and epochs_this_call >= stop_after and state["epoch"] < cfg.epochs:
            bar.close()
            codec.load_state_dict(state["best_state"])
            return TrainResult(
                codec.eval(), path, state["best_epoch"], state["best_acc"], state["history"], state["wall_s"]
            )
    bar.close()
    codec.load_state_dict(state["best_state"])
    codec.eval()
    if path is not None:
        atomic_write_bytes(
            path / "model.pt", _serialize({"config": cfg.as_dict(), "state": codec.state_dict()})
        )
        write_manifest(
            path,
            {
                **expected,
                "complete": True,
                "config": cfg.as_dict(),
                "best_epoch": state["best_epoch"],
                "best_val_acc": state["best_acc"],
                "epochs_run": state["epoch"],
                "history": state["history"],
                "wall_s": state["wall_s"],
                "torch": torch.__version__,
            },
        )
        if resume_file is not None and resume_file.exists():
            resume_file.unlink()
    return TrainResult(codec, path, state["best_epoch"], state["best_acc"], state["history"], state["wall_s"])
