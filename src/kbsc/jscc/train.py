"""Train a pixel JSCC model through the bridge (same grid, channel model, estimator and equalizer as
evaluation).

Recipe: images of the training split (a fixed held-out slice of ``n_val`` images is kept for a validation
PSNR); each step takes a batch, draws one SNR per image uniformly from ``snr_range`` dB and (rate-adaptive
models) one ``k`` per batch, log-uniformly between ``round(cbr_range·n)``; encoder → bridge → decoder; MSE
loss (the PSNR objective of DeepJSCC/SwinJSCC; ``loss: ms-ssim`` trains on 1 − MS-SSIM instead); Adam
with a cosine learning-rate decay to 10 %. Realizations come from seeds and image ids disjoint from
evaluation (:mod:`kbsc.jscc.channel`): every training step sees fresh ones.

Settings (``setting``):

* ``quick`` – 1,800 steps of 32 images (≈ 1.2 epochs of the embedded training split), lr 1e-3 (2e-3 and
  above learn more slowly or diverge: swinjscc at 600 steps 17.5 dB with 2e-3 vs 19.2 dB with 1e-3).
  Measured CPU cost per step of 32 images on one idle thread (Rayleigh, perfect CSI): deepjscc ≈ 0.05 s,
  swinjscc ≈ 0.17 s, so about 1.5 and 5 minutes of one core per model (the quick preset gives swinjscc
  1,200 steps).
* ``paper`` – 60,000 steps of 64 images (≈ 80 epochs), lr 5e-4, the order of the papers' budgets: about 2 h
  (deepjscc) and 6 h (swinjscc) of one idle CPU core per model, extrapolated from the per-step costs above
  (minutes on a GPU).

Determinism: the model is initialised from ``torch.manual_seed(seed)``; the batch of step t comes from the
permutation of epoch ⌊t/steps_per_epoch⌋, seeded by (seed, epoch); the SNR and k draws of step t are seeded by
(seed, t); the channel realizations are keyed. A run interrupted at a checkpoint and resumed gives the same
weights as an uninterrupted one. Checkpoints live in ``<data dir>/jscc/<name>/`` with ``model.pt`` (weights
only) and a manifest (config hash, training-set fingerprint, history, wall time); ``resume.pt`` holds the
state in between.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
from kbsc.jscc.registry import MODELS
from kbsc.util import atomic_write_bytes, hash_array, hash_obj, progress, read_manifest, write_manifest
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
SETTINGS.add("quick", {"steps": 1800, "batch_size": 32, "lr": 1e-3})
SETTINGS.add("paper", {"steps": 60_000, "batch_size": 64, "lr": 5e-4})
SETTINGS.add("tiny", {"steps": 60, "batch_size": 16, "lr": 3e-3})  # tests

FORMAT_VERSION = 2  # 2: DeepJSCC normalization defaults to BatchNorm (GDN checkpoints are retrained)


@dataclass(frozen=True)
class JSCCTrainConfig:
    """Everything that determines a trained model (its hash names the checkpoint).

    k: channel uses for a fixed-rate model (``deepjscc``…); None for a rate-adaptive one, which trains on
    ``cbr_range``. source_dim: n = H·W·3 of the images (CBR → k). model_options: constructor arguments
    (``width``, ``c1``, ``latent_channels``, …).
    """

    model: str = "deepjscc"
    k: int | None = None
    channel: str = "awgn"
    csi: str = "perfect"
    seed: int = 0
    setting: str = "quick"
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    snr_range: tuple[float, float] = (-5.0, 15.0)
    cbr_range: tuple[float, float] = (1 / 48, 1 / 2)
    loss: str = "mse"
    n_val: int = 256
    model_options: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, Any] | None = None
    source_dim: int = 3072
    threads: int = 1
    save_every: int = 250

    def resolved(self) -> JSCCTrainConfig:
        """Fill ``steps``/``batch_size``/``lr`` from the setting and validate (one-line ConfigError)."""
        base = SETTINGS.get(self.setting)
        cls = MODELS.get(self.model)
        cfg = dataclasses.replace(
            self,
            steps=int(self.steps if self.steps is not None else base["steps"]),
            batch_size=int(self.batch_size if self.batch_size is not None else base["batch_size"]),
            lr=float(self.lr if self.lr is not None else base["lr"]),
            snr_range=(float(self.snr_range[0]), float(self.snr_range[-1])),
            cbr_range=(float(self.cbr_range[0]), float(self.cbr_range[-1])),
            model_options=dict(self.model_options),
        )
        if cfg.steps < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
            raise ConfigError("JSCC training needs steps ≥ 1, batch_size ≥ 1 and lr > 0")
        if cfg.snr_range[0] > cfg.snr_range[1] or not 0 < cfg.cbr_range[0] <= cfg.cbr_range[1]:
            raise ConfigError(
                f"snr_range {cfg.snr_range} and cbr_range {cfg.cbr_range} must be [low, high] "
                "with 0 < cbr low"
            )
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

    def k_range(self) -> tuple[int, int]:
        """Channel uses per image a rate-adaptive model trains on: round(cbr_range · n), at least 1."""
        lo, hi = (max(1, int(round(c * self.source_dim))) for c in self.cbr_range)
        return lo, hi

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["snr_range"], d["cbr_range"] = list(self.snr_range), list(self.cbr_range)
        return d

    def hash(self) -> str:
        d = self.as_dict()
        for key in ("threads", "save_every"):
            d.pop(key)
        return hash_obj(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JSCCTrainConfig:
        d = dict(d)
        d["snr_range"], d["cbr_range"] = tuple(d["snr_range"]), tuple(d["cbr_range"])
        return cls(**d)


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
    history: list[dict[str, float]] = field(default_factory=list)
    val_psnr: float = float("nan")
    wall_s: float = 0.0
    steps: int = 0
    cached: bool = False


def build_model(cfg: JSCCTrainConfig) -> JSCCModel:
    """A fresh model for ``cfg`` (initialised from ``torch.manual_seed(cfg.seed)``)."""
    cls = MODELS.get(cfg.model)
    opts = dict(cfg.model_options)
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
    from kbsc.bridge.channel_spec import channel_slug

    return (
        Path(root) / f"{cfg.model}-{rate}-{channel_slug(cfg.channel)}-{cfg.csi}-s{cfg.seed}-{cfg.hash()[:12]}"
    )


def _expected_manifest(cfg: JSCCTrainConfig, data: TrainImages) -> dict[str, Any]:
    return {
        "kind": "kbsc-jscc-model",
        "format": FORMAT_VERSION,
        "config_hash": cfg.hash(),
        "train_images": data.fingerprint,
    }


def _serialize(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def load_model(path: Path, cfg: JSCCTrainConfig | None = None) -> JSCCModel:
    """Load ``path/model.pt`` (weights only) into a model built from its stored config."""
    path = Path(path)
    try:
        blob = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        stored = JSCCTrainConfig.from_dict(blob["config"])
    except FileNotFoundError:
        raise DataError(
            f"no trained JSCC model at {path}; run the grid (or `kbsc jscc train`) to train it"
        ) from None
    except Exception as exc:  # corrupt or foreign file
        raise DataError(
            f"{path / 'model.pt'} is not a JSCC checkpoint ({exc}); delete it to retrain"
        ) from None
    if cfg is not None and stored.hash() != cfg.hash():
        raise DataError(
            f"JSCC model at {path} was trained with a different configuration; delete it to retrain"
        )
    model = build_model(stored)
    model.load_state_dict(blob["state"])
    return model.eval()


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` → float ``[B, 3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0)


def step_draws(cfg: JSCCTrainConfig, step: int, batch: int) -> tuple[np.ndarray, int]:
    """SNRs ``[batch]`` (dB) and the k of training step ``step`` (pure function of (seed, step))."""
    rng = np.random.default_rng(_seed(cfg.seed, step, 1))
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
    vals = []
    for s in range(0, len(images), batch):
        x = to_tensor(images[s : s + batch])
        snr = torch.full((x.shape[0],), float(snr_db))
        xh = model(x, snr, k, bridge, torch.from_numpy(ids[s : s + batch] + VAL_ID_BASE))
        mse = ((xh - x) ** 2).flatten(1).mean(1).clamp_min(1e-10)
        vals.append((-10 * torch.log10(mse)).numpy())
    return float(np.concatenate(vals).mean()) if vals else float("nan")


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
    expected = _expected_manifest(cfg, data)
    if path is not None and (path / "model.pt").exists():
        try:
            stored = read_manifest(path)
            if stored.get("complete") and all(stored.get(k) == v for k, v in expected.items()):
                return TrainResult(
                    load_model(path, cfg),
                    path,
                    stored.get("history", []),
                    float(stored.get("val_psnr", float("nan"))),
                    float(stored.get("wall_s", 0.0)),
                    int(stored.get("steps", 0)),
                    cached=True,
                )
        except DataError:
            pass
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(cfg.threads)))
    try:
        return _train(cfg, data, path, expected, resume, stop_after, show_progress)
    finally:
        torch.set_num_threads(threads)


def _train(
    cfg: JSCCTrainConfig,
    data: TrainImages,
    path: Path | None,
    expected: dict[str, Any],
    resume: bool,
    stop_after: int | None,
    show_progress: bool,
) -> TrainResult:
    model = build_model(cfg)
    n_all = len(data.ids)
    n_val = min(cfg.n_val, max(n_all // 5, 0))
    order = np.random.default_rng(_seed(cfg.seed, 0, 7)).permutation(n_all)
    val_idx, fit_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    if len(fit_idx) == 0:
        raise DataError("no training images for the JSCC model")
    batch = min(cfg.batch_size, len(fit_idx))
    per_epoch = max(1, len(fit_idx) // batch)
    loss_fn = LOSSES.get(cfg.loss)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, cfg.steps) / cfg.steps))
    )
    bridge = open_bridge(cfg.channel, cfg.csi, TRAIN_SEED_BASE + cfg.seed, cfg.grid)
    state: dict[str, Any] = {"step": 0, "history": [], "wall_s": 0.0}
    resume_file = path / "resume.pt" if path is not None else None
    if resume and resume_file is not None and resume_file.exists():
        try:
            blob = torch.load(resume_file, map_location="cpu", weights_only=True)
            if blob.get("config_hash") == cfg.hash() and blob.get("train_images") == data.fingerprint:
                model.load_state_dict(blob["model"])
                opt.load_state_dict(blob["optimizer"])
                sched.load_state_dict(blob["scheduler"])
                state = blob["state"]
        except Exception:  # unreadable resume file: start over
            pass

    def save_resume() -> None:
        if resume_file is not None:
            atomic_write_bytes(
                resume_file,
                _serialize(
                    {
                        "config_hash": cfg.hash(),
                        "train_images": data.fingerprint,
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "state": state,
                    }
                ),
            )

    t0 = time.perf_counter() - float(state["wall_s"])
    bar = progress(
        total=cfg.steps,
        initial=state["step"],
        desc=f"train {cfg.model} {cfg.channel}/{cfg.csi}",
        disable=None if show_progress else True,
    )
    perm_epoch, perm = -1, None
    log_every = min(50, max(1, cfg.steps // 10))
    done_here, losses = 0, []
    model.train()
    while state["step"] < cfg.steps:
        step = int(state["step"])
        epoch, pos = divmod(step, per_epoch)
        if epoch != perm_epoch:
            perm = np.random.default_rng(_seed(cfg.seed, epoch, 0)).permutation(fit_idx)
            perm_epoch = epoch
        idx = perm[pos * batch : (pos + 1) * batch]
        snr, k = step_draws(cfg, step, len(idx))
        x = to_tensor(data.images[idx])
        ids = torch.from_numpy(data.ids[idx] + TRAIN_ID_BASE + step * ID_STRIDE)
        xh = model(x, torch.from_numpy(snr), k, bridge, ids)
        loss = loss_fn(xh, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        state["step"] = step + 1
        done_here += 1
        bar.update(1)
        if state["step"] % log_every == 0 or state["step"] == cfg.steps:
            state["history"].append({"step": state["step"], "loss": float(np.mean(losses)), "k": k})
            bar.set_postfix(loss=f"{np.mean(losses):.2e}")
            losses = []
        state["wall_s"] = time.perf_counter() - t0
        interrupted = stop_after is not None and done_here >= stop_after and state["step"] < cfg.steps
        if interrupted or state["step"] % cfg.save_every == 0:
            save_resume()
        if interrupted:
            bar.close()
            return TrainResult(
                model.eval(), path, state["history"], float("nan"), state["wall_s"], state["step"]
            )
    bar.close()
    model.eval()
    val_bridge = open_bridge(cfg.channel, cfg.csi, VAL_SEED_BASE + cfg.seed, cfg.grid)
    k_val = cfg.k if cfg.k is not None else cfg.k_range()[1]
    val = validation_psnr(
        model, val_bridge, data.images[val_idx], data.ids[val_idx], k_val, float(np.mean(cfg.snr_range))
    )
    if path is not None:
        atomic_write_bytes(
            path / "model.pt", _serialize({"config": cfg.as_dict(), "state": model.state_dict()})
        )
        write_manifest(
            path,
            {
                **expected,
                "complete": True,
                "config": cfg.as_dict(),
                "steps": state["step"],
                "val_psnr": val,
                "val_k": k_val,
                "history": state["history"],
                "wall_s": state["wall_s"],
                "torch": torch.__version__,
            },
        )
        if resume_file is not None and resume_file.exists():
            resume_file.unlink()
    return TrainResult(model, path, state["history"], val, state["wall_s"], state["step"])
