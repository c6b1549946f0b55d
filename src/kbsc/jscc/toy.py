"""A tiny fabricated world for tests and demos of the JSCC systems without a prepared workspace.

Images: 32×32 smooth colour patterns of ``n_classes`` classes (a class-specific colour pair and gradient
angle, random phase and noise). Extractor: 8×8 average-pooled, mean-removed pixels, unit norm. Knowledge base:
brute-force inner-product search. Enough to exercise the whole pipeline (images → channel → decoded images →
features → KB) in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from kbsc.systems.base import EvalContext

__all__ = ["PooledPixelExtractor", "ToyKB", "toy_context", "toy_images"]


def toy_images(n: int, n_classes: int = 10, seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``[n, size, size, 3]`` and int64 labels ``[n]`` (class = index mod n_classes)."""
    rng = np.random.default_rng(seed)
    crng = np.random.default_rng(12345)
    colours = crng.uniform(0.1, 0.9, size=(n_classes, 2, 3))
    angles = crng.uniform(0, np.pi, size=n_classes)
    labels = np.arange(n, dtype=np.int64) % n_classes
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    out = np.empty((n, size, size, 3))
    for i, c in enumerate(labels):
        t = np.cos(angles[c]) * xx + np.sin(angles[c]) * yy
        w = 0.5 + 0.5 * np.sin(3.0 * t + rng.uniform(0, 2 * np.pi))
        img = w[..., None] * colours[c, 0] + (1 - w[..., None]) * colours[c, 1]
        out[i] = img + 0.03 * rng.standard_normal(img.shape)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8), labels


class PooledPixelExtractor:
    """uint8 ``[N, H, W, 3]`` → unit-norm float32 ``[N, 192]`` (8×8 average pool, mean removed)."""

    name = "pooled-pixels"
    fingerprint = "pooled-pixels-v1"
    dim = 192

    def extract(self, images: np.ndarray, batch_size: int = 256, show_progress: bool = True) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32) / 255.0
        n, h, w, c = x.shape
        p = x.reshape(n, 8, h // 8, 8, w // 8, c).mean(axis=(2, 4)).reshape(n, -1)
        p = p - p.mean(axis=1, keepdims=True)
        return (p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-8)).astype(np.float32)


@dataclass
class ToyKB:
    """Brute-force inner-product knowledge base: features ``[M, D]``, labels ``[M]``."""

    features: np.ndarray
    labels: np.ndarray

    def retrieve_labels(self, queries: np.ndarray, k: int = 5) -> np.ndarray:
        """Labels ``[N, k]`` of the ``k`` most similar KB items, best first."""
        sim = np.asarray(queries, dtype=np.float32) @ self.features.T
        top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        return self.labels[top].astype(np.int64)


def toy_context(
    n: int = 20,
    n_kb: int = 50,
    n_train: int = 200,
    n_classes: int = 10,
    data_dir: str | Path = ".",
    options: dict | None = None,
    size: int = 32,
) -> EvalContext:
    """An :class:`EvalContext` with ``n`` sender images, a KB of ``n_kb``, a workspace-like ``.train``."""
    images, labels = toy_images(n, n_classes, seed=1, size=size)
    kb_images, kb_labels = toy_images(n_kb, n_classes, seed=2, size=size)
    train_images, train_labels = toy_images(n_train, n_classes, seed=3, size=size)
    ext = PooledPixelExtractor()
    kb = ToyKB(ext.extract(kb_images), kb_labels)
    train = SimpleNamespace(
        images=train_images,
        labels=train_labels,
        ids=np.arange(n_train, dtype=np.int64),
        fingerprint=f"toy-{n_train}-{n_classes}-{size}",
    )
    return EvalContext(
        data_dir=Path(data_dir),
        images=images,
        labels=labels,
        image_ids=np.arange(100_000, 100_000 + n, dtype=np.int64),
        features=ext.extract(images),
        extractor=ext,
        kb=kb,
        workspace=SimpleNamespace(train=train),
        options=dict(options or {}),
    )
