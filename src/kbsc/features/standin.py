"""``standin``: the default extractor, a compact CNN trained here on the training split.

Why a stand-in: CLIP ViT-B/32 cannot be downloaded at run time and costs ~4 GFLOP per image on a CPU. The
testbed only needs *an* extractor that maps images to unit-norm 512-d features whose nearest neighbours share
the class, and whose quality degrades as the image degrades; a small CNN trained with a cosine-softmax head
does that in a few minutes. Real CLIP plugs in through the same interface (``clip-vit-b32``).

Training runs in the shared loop (:mod:`kbsc.training.loop`) on a step budget, not an epoch count: a few
images per class are held out of the training split as validation queries, and every ``eval_every`` steps the
top-1 retrieval accuracy of their features against a knowledge base of training images (10–30 per class)
is measured; training stops when ``patience`` validations bring no gain (after ``min_steps``) or at the
ceiling ``max_steps``; SGD with Nesterov momentum, a linear warm-up, then the learning rate halves whenever
two validations in a row bring no gain (``schedule: plateau``, the default; ``cosine`` decays
to zero at the ceiling instead, which keeps improving to the last step and so never ends on a plateau); the
best-validation weights are kept. Deterministic given the seed: fixed initialisation (``torch.manual_seed``),
data order seeded per epoch and augmentation per step, deterministic kernels and a fixed thread count; an
interrupted training resumes from ``resume.pt`` in its cache folder. The weights are cached under
``data_dir/extractors/<fingerprint>/``, named by the extractor's fingerprint (the hash of its weights) like
the ``features/`` and ``kb/`` entries made with it; the manifest records the *recipe* (the hash of the
training set's fingerprint, the seed and every hyper-parameter) by which a later run finds it before
training. Caches of older versions, named ``standin-<recipe>``, are still found.
"""

from __future__ import annotations

import io
import itertools
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
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
from kbsc.training import Budget, TrainingReport, TrainTask, reference, run_training
from kbsc.training.optim import sgd
from kbsc.training.settings import TrainSettings
from kbsc.training.store import derive_seed
from kbsc.util import (
    atomic_write_bytes,
    hash_array,
    hash_bytes,
    hash_file,
    hash_obj,
    read_manifest,
    write_manifest,
)
from kbsc.util.device import (
    autocast,
    current_device,
    describe_device,
    inference_precision,
    module_device,
)

# Bump when the network, training recipe or preprocessing changes: old caches are then not reused.
STANDIN_VERSION = 3  # 3: step budget with validation and patience (the shared training loop)
WEIGHTS_NAME = "weights.pt"


@dataclass(frozen=True)
class StandinConfig(TrainSettings):
    """Hyper-parameters of the stand-in CNN and its training (all of them enter the cache hash).

    One setting (these defaults); options from text through :meth:`TrainSettings.from_options`.
    """

    FORMAT_VERSION = STANDIN_VERSION
    KIND = "standin"
    HASH_EXCLUDE = ()  # the recipe (standin_recipe) holds every field, the thread count too
    OPTION_LABEL = "standin"

    width: int = 32  # channels of the first conv stage (then 2×, 4×, 8×)
    convs: int = 1  # conv layers per stage
    strides: str = "2,2,2,1"  # down-sampling before each stage (see StandinNet)
    dim: int = 512  # embedding size
    # ceiling in optimizer steps (≈ 75 epochs of synthetic100): a safety net, patience ends training. With the
    # cosine schedule, 2,000 steps stopped at 79.7 % and 8,000 at 88.0 %, both still rising at the ceiling
    max_steps: int = 30000
    min_steps: int = 2000  # floor: patience cannot stop training before this
    eval_every: int = 200  # optimizer steps between validations
    patience: int = 8  # validations without gain in retrieval accuracy that end training
    schedule: str = "plateau"  # or "cosine" (decay to zero at max_steps)
    warmup_steps: int = 300  # linear warm-up of the learning rate
    batch_size: int = 128
    lr: float = 0.2  # peak learning rate (SGD, Nesterov momentum; then the schedule)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    head_scale: float = 16.0  # cosine-softmax temperature
    augment: bool = True  # random 4-pixel shifts (reflect padding) and horizontal flips
    threads: int = 1  # torch threads during training: fixed, since the result depends on it (oneDNN)
    val_per_class: int = 10  # held-out validation queries per class (fewer for small classes)
    val_kb_images: int = 1000  # validation knowledge base: about this many training images (10–30 per class)

    def budget(self) -> Budget:
        return self.loop_budget(
            schedule=self.schedule, warmup_steps=min(self.warmup_steps, self.max_steps), lr_floor=0.0
        )

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


@contextmanager
def _deterministic_torch(threads: int):
    """Fixed thread count and deterministic kernels inside the block; previous settings restored after.

    Deterministic mode also NaN-fills every new tensor by default (``fill_uninitialized_memory``, a debugging
    aid that finds kernels reading memory they never wrote): about 15 % of a training step on a CPU, and no
    kernel here reads such memory, so it is switched off. The weights are bit-identical either way.
    On a GPU a kernel without a deterministic form warns instead of stopping training (``warn_only``): the
    run is then reproducible only as far as those kernels are.
    """
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=current_device().type == "cuda")
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = old_fill
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
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
        self.net = net.to(current_device()).eval()  # weights load on the host, then go to the device
        self.precision = inference_precision()  # autocast of extraction (fp32: off)
        self.config = config
        self.dim = config.dim
        self.stats = stats or {}
        self.report: TrainingReport | None = None  # set when trained in this process
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """``standin-`` + hash of the weights (the preprocessing is fixed by STANDIN_VERSION)."""
        if self._fingerprint is None:
            state = self.net.state_dict()
            digest = hash_obj({k: hash_array(v.detach().cpu().numpy(), 32) for k, v in state.items()}, 12)
            self._fingerprint = f"standin-{digest}"
        return self._fingerprint

    def weights_bytes(self) -> bytes:
        state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in self.net.state_dict().items()}
        buf = io.BytesIO()
        torch.save({"version": STANDIN_VERSION, "state_dict": state}, buf)
        return buf.getvalue()

    def _embed(self, batch: np.ndarray) -> torch.Tensor:
        device = module_device(self.net)
        x = StandinNet.scale(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
        with autocast(device, self.precision):
            return self.net(x).float()

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


def _validation_split(labels: np.ndarray, cfg: StandinConfig, seed: int) -> tuple[np.ndarray, ...]:
    """(fit, validation queries, validation KB ⊂ fit) indices: per class min(val_per_class, n_c // 10) ≥ 1
    held-out queries (none for a class of fewer than 4 images), up to val_kb_images / classes (10 to 30) KB
    images: the validation costs about 2,000 embeddings at most on 100 classes."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    fit, vq, vkb = [], [], []
    classes = np.unique(labels)
    kb_per_class = min(30, max(10, cfg.val_kb_images // max(len(classes), 1)))
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        q = 0 if len(idx) < 4 else max(1, min(cfg.val_per_class, len(idx) // 10))
        vq.append(idx[:q])
        fit.append(idx[q:])
        vkb.append(idx[q : q + kb_per_class])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in (fit, vq, vkb))


class _StandinTraining:
    """The stand-in's part of the loop: augmented batches, cosine-softmax cross-entropy, validation top-1
    retrieval of held-out training images against a KB of other training images."""

    def __init__(self, train_set: ImageSet, cfg: StandinConfig, seed: int) -> None:
        self.cfg, self.seed = cfg, seed
        self.images = np.ascontiguousarray(train_set.images)
        labels = np.asarray(train_set.labels, dtype=np.int64)
        self.labels = torch.from_numpy(labels)
        self.fit, self.vq, self.vkb = _validation_split(labels, cfg, seed)
        if len(self.fit) == 0:
            raise DataError("cannot train the stand-in on an empty training set")
        self.batch = min(cfg.batch_size, len(self.fit))
        torch.manual_seed(seed)
        self.device = current_device()  # initialised on the CPU (the same start everywhere), then moved
        self.net = cfg.build().to(memory_format=torch.channels_last)
        self.head = CosineHead(cfg.dim, len(train_set.class_names), cfg.head_scale)
        self.net.to(self.device)
        self.head.to(self.device)
        self.labels_dev = self.labels.to(self.device)

    def batches(self, start: int):
        """Step t: slice of the permutation of epoch t // per_epoch (seeded by (seed, epoch)), augmented with
        a generator seeded by (seed, t) (so a resumed run sees the same batches)."""
        per_epoch = max(1, len(self.fit) // self.batch)  # the ragged last batch is dropped (batch norm)
        perm_epoch, perm = -1, None
        for step in itertools.count(start):
            epoch, pos = divmod(step, per_epoch)
            if epoch != perm_epoch:
                g = torch.Generator().manual_seed(derive_seed(self.seed, epoch, 0))
                perm = self.fit[torch.randperm(len(self.fit), generator=g).numpy()]
                perm_epoch = epoch
            idx = perm[pos * self.batch : (pos + 1) * self.batch]
            batch_images = self.images[idx]
            if self.cfg.augment:
                batch_images = _augment(
                    batch_images, torch.Generator().manual_seed(derive_seed(self.seed, step, 1))
                )
            x = StandinNet.scale(torch.from_numpy(batch_images).to(self.device))
            yield x, self.labels_dev[torch.from_numpy(idx).to(self.device)]

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.head(self.net(x)), y, label_smoothing=self.cfg.label_smoothing)

    def _embed(self, idx: np.ndarray) -> torch.Tensor:
        out = [
            self.net(StandinNet.scale(torch.from_numpy(self.images[idx[s : s + 512]]).to(self.device)))
            for s in range(0, len(idx), 512)
        ]
        return torch.cat(out) if out else torch.zeros(0, self.cfg.dim, device=self.device)

    def validate(self) -> dict[str, float]:
        if len(self.vq) == 0:  # classes too small to hold any image out: training accuracy is all we have
            return {"val_acc": 0.0}
        # unit rows, as the extractor's features are (cosine = inner product ranking)
        q, kb = F.normalize(self._embed(self.vq), dim=1), F.normalize(self._embed(self.vkb), dim=1)
        top1 = self.labels[self.vkb][(q @ kb.T).argmax(dim=1).cpu()]
        return {"val_acc": float((top1 == self.labels[self.vq]).float().mean())}

    def task(self) -> TrainTask:
        cfg = self.cfg

        def make_optimizer(net: torch.nn.Module) -> torch.optim.Optimizer:
            params = list(net.parameters()) + list(self.head.parameters())
            return sgd(params, cfg.lr, cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)

        return TrainTask(
            model=self.net,
            make_optimizer=make_optimizer,
            loss=self.loss,
            batches=self.batches,
            validate=self.validate,
            metric="val_acc",
            extra_modules={"head": self.head},
        )


def train_standin(
    train_set: ImageSet,
    seed: int = 0,
    show_progress: bool = True,
    checkpoint: Path | None = None,
    stop_after: int | None = None,
    **options: Any,
) -> StandinExtractor:
    """Train the stand-in on ``train_set`` (no caching; see :func:`standin_from_cache`).

    options: any :class:`StandinConfig` field, e.g. ``max_steps=40, width=8`` for a few-second test run.
    checkpoint: resumable state file (None = none); stop_after: stop after this many steps as if interrupted.
    Bit-identical weights for the same ``train_set``, ``seed`` and options.
    """
    cfg = StandinConfig.from_options(**options)
    if len(train_set.labels) == 0:
        raise DataError("cannot train the stand-in on an empty training set")
    t0, c0 = time.perf_counter(), time.process_time()
    with _deterministic_torch(cfg.threads):
        job = _StandinTraining(train_set, cfg, seed)
        report = run_training(
            job.task(),
            cfg.budget(),
            checkpoint=checkpoint,
            key={
                "train": train_set.fingerprint,
                "seed": seed,
                "config": cfg.as_dict(),
                "version": cfg.FORMAT_VERSION,
            },
            stop_after=stop_after,
            show_progress=show_progress,
            desc="training standin",
        )
    net = job.net.eval()
    stats = {
        "train_images": int(len(job.fit)),
        "val_queries": int(len(job.vq)),
        "steps": report.steps,
        "best_step": report.best_step,
        "val_acc": round(report.best, 4),
        "converged": report.converged,
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
        "params": sum(p.numel() for p in net.parameters()),
    }
    ext = StandinExtractor(net, cfg, stats)
    ext.report = report
    return ext


def standin_recipe(train_set: ImageSet, seed: int, config: StandinConfig) -> str:
    """Hash of what makes a stand-in: training set fingerprint, seed, hyper-parameters, version."""
    return _recipe(config.FORMAT_VERSION, train_set.fingerprint, seed, config.as_dict())


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
            **({"training": extractor.report.as_dict()} if extractor.report is not None else {}),
            "torch": torch.__version__,
            "device": describe_device(module_device(extractor.net)),  # where it was trained / is held
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
        found = _from_reference(train_set, seed, cfg)
        if found is not None:
            return found
        # the finished weights go to a folder named by their fingerprint, unknown until they exist: an
        # interrupted training resumes from a recipe-named working folder instead
        work = root / f".standin-{recipe}.training"
        work.mkdir(exist_ok=True)
        extractor = train_standin(
            train_set,
            seed=seed,
            show_progress=show_progress,
            checkpoint=work / "resume.pt",
            **asdict(cfg),
        )
        save_standin(
            extractor,
            root / extractor.fingerprint,
            {
                "train_set": train_set.name,
                "train_fingerprint": train_set.fingerprint,
                "seed": seed,
                "recipe": recipe,
                # what else the weights depend on (docs/concepts/embedded-default.md, "Determinism")
                "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            },
        )
        shutil.rmtree(work, ignore_errors=True)
    return extractor


def _from_reference(train_set: ImageSet, seed: int, cfg: StandinConfig) -> StandinExtractor | None:
    """The committed reference stand-in of this recipe (:mod:`kbsc.training.reference`), if verified.

    Found among the store's stand-ins of the same seed and hyper-parameters, so that one trained on another
    dataset is named as the reason for training."""

    expected = {
        "kind": "standin",
        "version": STANDIN_VERSION,
        "seed": seed,
        "config": asdict(cfg),
        "train_fingerprint": train_set.fingerprint,
    }
    folder = reference.lookup_match(expected, match=("kind", "seed", "config"))
    if folder is None:
        return None
    try:
        return StandinExtractor.load(folder)
    except DataError as exc:
        print(f"kbsc: reference stand-in {folder.name}: {exc}; training it instead", file=sys.stderr)
        return None


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
