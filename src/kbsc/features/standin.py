"""``standin``: the default extractor, a compact CNN trained here on the training split.

Why a stand-in: CLIP ViT-B/32 cannot be downloaded at run time and costs ~4 GFLOP per image on a CPU. The
testbed only needs *an* extractor that maps images to unit-norm 512-d features whose nearest neighbours share
the class, and whose quality degrades as the image degrades; a small CNN trained with a cosine-softmax head
does that in a few minutes. Real CLIP plugs in through the same interface (``clip-vit-b32``).

Training is deterministic given the seed: fixed initialisation (``torch.manual_seed``), one generator for data
order and augmentation, deterministic kernels and a fixed thread count. The weights are cached under
``data_dir/extractors/<fingerprint>/``, named by the extractor's fingerprint (the hash of its weights) like
the ``features/`` and ``kb/`` entries made with it; the manifest records the *recipe* (the hash of the
training set's fingerprint, the seed and every hyper-parameter) by which a later run finds it before
training. Caches of older versions, named ``standin-<recipe>``, are still found.
"""

from __future__ import annotations

import io
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock

from kbsc.data.base import ImageSet
from kbsc.errors import ConfigError, DataError
from kbsc.features.base import Extractor
from kbsc.features.batching import extract_batched
from kbsc.features.registry import EXTRACTORS
from kbsc.features.standin_net import CosineHead, StandinNet
from kbsc.util import (
    atomic_write_bytes,
    hash_array,
    hash_bytes,
    hash_file,
    hash_obj,
    progress,
    read_manifest,
    write_manifest,
)

# Bump when the network, training recipe or preprocessing changes: old caches are then not reused.
STANDIN_VERSION = 2
WEIGHTS_NAME = "weights.pt"


@dataclass(frozen=True)
class StandinConfig:
    """Hyper-parameters of the stand-in CNN and its training (all of them enter the cache hash)."""

    width: int = 32  # channels of the first conv stage (then 2×, 4×, 8×)
    convs: int = 1  # conv layers per stage
    strides: str = "2,2,2,1"  # down-sampling before each stage (see StandinNet)
    dim: int = 512  # embedding size
    epochs: int = 5  # fixed epoch count (not a time budget: the result must not depend on the machine)
    batch_size: int = 128
    lr: float = 0.2  # peak learning rate of the one-cycle schedule (SGD, Nesterov momentum)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    head_scale: float = 16.0  # cosine-softmax temperature
    augment: bool = True  # random 4-pixel shifts (reflect padding) and horizontal flips
    threads: int = 1  # torch threads during training: fixed, since the result depends on it (oneDNN)

    def build(self) -> StandinNet:
        """A freshly initialised network with these settings."""
        try:
            strides = tuple(int(s) for s in self.strides.split(","))
        except ValueError:
            raise ConfigError(
                f"standin option strides={self.strides!r} must be 4 integers like 2,2,2,1"
            ) from None
        widths = tuple(self.width * 2**i for i in range(len(strides)))
        return StandinNet(widths, self.dim, self.convs, strides)

    @classmethod
    def from_options(cls, **options: Any) -> StandinConfig:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown standin option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        cfg = cls()
        values = {}
        for key, value in options.items():
            default = getattr(cfg, key)
            try:
                values[key] = _coerce(value, type(default))
            except ValueError:
                raise ConfigError(
                    f"standin option {key}={value!r} is not a {type(default).__name__}"
                ) from None
        return cls(**{**asdict(cfg), **values})


def _coerce(value: Any, kind: type) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return kind(value)


def one_cycle(step: int, total: int, warmup: float = 0.25, start: float = 0.04) -> float:
    """One-cycle learning-rate factor (Smith 2018): linear rise from ``start`` to 1, cosine decay to 0."""
    p = min(step / max(total, 1), 1.0)
    if p < warmup:
        return start + (1.0 - start) * p / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (p - warmup) / (1.0 - warmup)))


@contextmanager
def _deterministic_torch(threads: int):
    """Fixed thread count and deterministic kernels inside the block; previous settings restored after."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def _augment(images: np.ndarray, gen: torch.Generator, pad: int = 4) -> np.ndarray:
    """Per image: random shift by ≤ ``pad`` pixels (reflect padding), horizontal flip. uint8 ``[B, H, W, 3]``.

    Done on uint8 in numpy (a strided window view, one gather): far cheaper than indexing float tensors.
    """
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    # [B, 2p+1, 2p+1, 3, H, W]
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(1, 2))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).numpy()
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen).numpy()
    flip = (torch.rand(b, generator=gen) < 0.5).numpy()
    out = windows[np.arange(b), oy, ox].transpose(0, 2, 3, 1)  # [B, H, W, 3]
    out[flip] = out[flip, :, ::-1]
    return np.ascontiguousarray(out)


class StandinExtractor(Extractor):
    """The trained stand-in CNN as an :class:`Extractor`."""

    name = "standin"

    def __init__(self, net: StandinNet, config: StandinConfig, stats: dict | None = None) -> None:
        self.net = net.eval()
        self.config = config
        self.dim = config.dim
        self.stats = stats or {}
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """``standin-`` + hash of the weights (the preprocessing is fixed by STANDIN_VERSION)."""
        if self._fingerprint is None:
            state = self.net.state_dict()
            digest = hash_obj({k: hash_array(v.detach().numpy(), 32) for k, v in state.items()}, 12)
            self._fingerprint = f"standin-{digest}"
        return self._fingerprint

    def weights_bytes(self) -> bytes:
        state = {k: v.detach().clone().contiguous() for k, v in self.net.state_dict().items()}
        buf = io.BytesIO()
        torch.save({"version": STANDIN_VERSION, "state_dict": state}, buf)
        return buf.getvalue()

    def _embed(self, batch: np.ndarray) -> torch.Tensor:
        return self.net(StandinNet.scale(torch.from_numpy(np.ascontiguousarray(batch))))

    def extract(self, images: np.ndarray, batch_size: int = 256, show_progress: bool = True) -> np.ndarray:
        """images uint8 ``[N, H, W, 3]`` → float32 ``[N, 512]``, unit rows."""
        self.net.eval()
        return extract_batched(self._embed, images, self.dim, batch_size, show_progress, "standin features")

    @classmethod
    def load(cls, directory: str | Path) -> StandinExtractor:
        """Load a cached stand-in (``manifest.json`` + ``weights.pt``), verifying the weights hash."""
        directory = Path(directory)
        if directory.is_file():
            directory = directory.parent
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise DataError(f"no stand-in weights at {weights}; run `kbsc prepare` to train the stand-in")
        manifest = read_manifest(directory)
        if manifest.get("kind") != "standin" or manifest.get("version") != STANDIN_VERSION:
            raise DataError(
                f"{directory} holds no stand-in of version {STANDIN_VERSION}; "
                "delete it and rerun `kbsc prepare`"
            )
        if hash_file(weights, 64) != manifest.get("weights_sha256"):
            raise DataError(
                f"{weights} does not match its manifest (corrupt?); delete {directory} to retrain"
            )
        try:
            config = StandinConfig(**manifest["config"])
        except (KeyError, TypeError) as exc:
            raise DataError(
                f"{directory / 'manifest.json'} has no valid stand-in config ({type(exc).__name__}: {exc}); "
                f"delete {directory} to retrain"
            ) from None
        try:  # weights only: a checkpoint that needs more than tensors and containers is refused
            blob = torch.load(weights, map_location="cpu", weights_only=True)
            net = config.build()
            net.load_state_dict(blob["state_dict"])
        except Exception as exc:  # noqa: BLE001 - any failure to read a user's file is a data error
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise DataError(
                f"{weights} is not a stand-in checkpoint ({type(exc).__name__}: {first})"
            ) from None
        return cls(net, config, manifest.get("stats"))


def train_standin(
    train_set: ImageSet, seed: int = 0, show_progress: bool = True, **options: Any
) -> StandinExtractor:
    """Train the stand-in on ``train_set`` (no caching; see :func:`standin_from_cache`).

    options: any :class:`StandinConfig` field, e.g. ``epochs=1, width=8`` for a few-second test run.
    Bit-identical weights for the same ``train_set``, ``seed`` and options.
    """
    cfg = StandinConfig.from_options(**options)
    n_classes = len(train_set.class_names)
    images = np.ascontiguousarray(train_set.images)
    labels = torch.from_numpy(np.asarray(train_set.labels, dtype=np.int64))
    n = len(labels)
    if n == 0:
        raise DataError("cannot train the stand-in on an empty training set")
    batch = min(cfg.batch_size, n)
    steps_per_epoch = max(1, n // batch)  # drop the ragged last batch (batch norm dislikes tiny batches)
    total = cfg.epochs * steps_per_epoch
    t0, c0 = time.perf_counter(), time.process_time()
    with _deterministic_torch(cfg.threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = cfg.build().to(memory_format=torch.channels_last)
        head = CosineHead(cfg.dim, n_classes, cfg.head_scale)
        params = list(net.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: one_cycle(step, total))
        net.train()
        head.train()
        quiet = {} if show_progress else {"disable": True}
        bar = progress(total=total, desc="training standin", unit="step", **quiet)
        loss_avg, acc_avg = 0.0, 0.0
        for _epoch in range(cfg.epochs):
            order = torch.randperm(n, generator=gen)
            for step in range(steps_per_epoch):
                idx = order[step * batch : (step + 1) * batch]
                batch_images = images[idx.numpy()]
                if cfg.augment:
                    batch_images = _augment(batch_images, gen)
                x = StandinNet.scale(torch.from_numpy(batch_images))
                y = labels[idx]
                logits = head(net(x))
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                acc = (logits.argmax(1) == y).float().mean().item()
                loss_avg = 0.98 * loss_avg + 0.02 * loss.item() if bar.n else loss.item()
                acc_avg = 0.98 * acc_avg + 0.02 * acc if bar.n else acc
                bar.update(1)
                bar.set_postfix(epoch=_epoch + 1, loss=f"{loss_avg:.3f}", acc=f"{acc_avg:.3f}")
        bar.close()
    net.eval()
    stats = {
        "train_images": n,
        "steps": total,
        "final_loss": round(loss_avg, 4),
        "final_train_acc": round(acc_avg, 4),
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
        "params": sum(p.numel() for p in net.parameters()),
    }
    return StandinExtractor(net, cfg, stats)


def standin_recipe(train_set: ImageSet, seed: int, config: StandinConfig) -> str:
    """Hash of what makes a stand-in: training set fingerprint, seed, hyper-parameters, version."""
    return _recipe(STANDIN_VERSION, train_set.fingerprint, seed, asdict(config))


def _recipe(version: Any, train_fingerprint: Any, seed: Any, config: Any) -> str:
    return hash_obj({"version": version, "train": train_fingerprint, "seed": seed, "config": config}, 16)


def _cached_dirs(data_dir: Path, recipe: str) -> list[Path]:
    """Folders under ``extractors/`` whose manifest was made by ``recipe`` (fingerprint-named ones first)."""
    found = []
    for d in sorted((Path(data_dir) / "extractors").glob("standin-*")):
        if not (d / "manifest.json").is_file():
            continue
        try:
            m = read_manifest(d)
            made_by = m.get("recipe") or _recipe(m["version"], m["train_fingerprint"], m["seed"], m["config"])
        except (DataError, KeyError, TypeError):
            continue
        if made_by == recipe:
            found.append(d)
    return sorted(found, key=lambda d: d.name != read_manifest(d).get("fingerprint"))


def standin_cache_dir(data_dir: Path, train_set: ImageSet, seed: int, config: StandinConfig) -> Path:
    """The cached stand-in's folder for (``train_set``, ``seed``, ``config``): ``extractors/<fingerprint>``,
    found by its recipe; ``extractors/standin-<recipe>`` if nothing is cached yet."""
    recipe = standin_recipe(train_set, seed, config)
    cached = _cached_dirs(data_dir, recipe)
    return cached[0] if cached else Path(data_dir) / "extractors" / f"standin-{recipe}"


def save_standin(extractor: StandinExtractor, directory: Path, manifest: dict) -> None:
    """Write ``weights.pt`` atomically, then the manifest (which is what marks the cache complete)."""
    data = extractor.weights_bytes()
    atomic_write_bytes(directory / WEIGHTS_NAME, data)
    write_manifest(
        directory,
        {
            **manifest,
            "kind": "standin",
            "version": STANDIN_VERSION,
            "config": asdict(extractor.config),
            "fingerprint": extractor.fingerprint,
            "weights_sha256": hash_bytes(data, 64),
            "stats": extractor.stats,
            "torch": torch.__version__,
        },
    )


def standin_from_cache(
    data_dir: Path, train_set: ImageSet, seed: int = 0, show_progress: bool = True, **options: Any
) -> StandinExtractor:
    """The cached stand-in for (``train_set``, ``seed``, options), training and caching it if needed."""
    cfg = StandinConfig.from_options(**options)
    recipe = standin_recipe(train_set, seed, cfg)
    root = Path(data_dir) / "extractors"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"standin-{recipe}.lock")):
        for directory in _cached_dirs(data_dir, recipe):
            try:
                return StandinExtractor.load(directory)
            except DataError as exc:
                print(f"kbsc: {exc}; retraining", flush=True)
        extractor = train_standin(train_set, seed=seed, show_progress=show_progress, **asdict(cfg))
        save_standin(
            extractor,
            root / extractor.fingerprint,
            {
                "train_set": train_set.name,
                "train_fingerprint": train_set.fingerprint,
                "seed": seed,
                "recipe": recipe,
                # what else the weights depend on (README, "Determinism across machines")
                "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            },
        )
    return extractor


@EXTRACTORS.register("standin")
def make_standin(
    data_dir: Path,
    train_set: ImageSet | None,
    checkpoint: Path | None,
    seed: int,
    show_progress: bool,
    **options: Any,
) -> StandinExtractor:
    """A given stand-in checkpoint (cache folder or its ``weights.pt``), else the cached/trained one."""
    if checkpoint is not None:
        if not checkpoint.exists():
            raise DataError(
                f"stand-in checkpoint {checkpoint} not found; give a folder made by `kbsc prepare`"
            )
        return StandinExtractor.load(checkpoint)
    if train_set is None:
        raise ConfigError("the standin extractor needs a training set (or --checkpoint to a trained one)")
    return standin_from_cache(data_dir, train_set, seed=seed, show_progress=show_progress, **options)
