"""The feature-extractor interface: uint8 images → L2-normalized 512-d features."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Extractor(ABC):
    """Maps uint8 images ``[N, H, W, 3]`` to L2-normalized float32 features ``[N, dim]``.

    ``fingerprint`` identifies the weights and preprocessing, so feature caches and knowledge bases built
    with one extractor are refused by another.
    """

    name: str
    dim: int = 512
    #: autocast precision of :meth:`extract` (``fp32``: off); other values change the features, so they
    #: name their own feature caches and knowledge bases (:attr:`cache_tag`)
    precision: str = "fp32"

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Short hash of the weights and preprocessing."""

    @property
    def cache_tag(self) -> str:
        """The fingerprint, with ``-<precision>`` appended under mixed precision: what caches are named by."""
        return self.fingerprint if self.precision == "fp32" else f"{self.fingerprint}-{self.precision}"

    @abstractmethod
    def extract(self, images: np.ndarray, batch_size: int = 256, show_progress: bool = True) -> np.ndarray:
        """images uint8 ``[N, H, W, 3]`` → float32 ``[N, dim]`` with unit L2 norm per row."""
