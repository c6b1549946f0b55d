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

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Short hash of the weights and preprocessing."""

    @abstractmethod
    def extract(self, images: np.ndarray, batch_size: int = 256, show_progress: bool = True) -> np.ndarray:
        """images uint8 ``[N, H, W, 3]`` → float32 ``[N, dim]`` with unit L2 norm per row."""
