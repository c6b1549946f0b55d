"""The in-memory image set every dataset loader returns, and the dataset interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from kbsc.util.hashing import hash_array


@dataclass
class ImageSet:
    """A labelled set of images.

    images: uint8 ``[N, H, W, 3]`` (32×32 for CIFAR-shaped sets)
    labels: int64 ``[N]`` fine class in ``[0, len(class_names))``
    coarse: int64 ``[N]`` coarse group, or None
    ids:    int64 ``[N]`` stable image ids inside the split (the index in the split file); part of the
            realization key, so the same image always sees the same channel.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    name: str
    coarse: np.ndarray | None = None
    ids: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ids is None:
            self.ids = np.arange(len(self.labels), dtype=np.int64)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def source_dim(self) -> int:
        """n = H·W·C, the source dimension that defines the CBR."""
        return int(np.prod(self.images.shape[1:]))

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of images and labels (used in cache manifests)."""
        return hash_array(self.images) + hash_array(self.labels)[:8]

    def subset(self, idx: np.ndarray, name: str | None = None) -> ImageSet:
        """The images at ``idx`` keeping their ids."""
        return ImageSet(
            images=self.images[idx],
            labels=self.labels[idx],
            class_names=self.class_names,
            name=name or self.name,
            coarse=None if self.coarse is None else self.coarse[idx],
            ids=self.ids[idx],
            meta=dict(self.meta),
        )


class Dataset(ABC):
    """A named source of ``train`` and ``test`` image sets."""

    name: str

    @abstractmethod
    def load(self, split: str) -> ImageSet:
        """Return the ``"train"`` or ``"test"`` split."""

    @property
    def root(self) -> Path | None:
        return None
