"""``cifar100``: the user's ``cifar-100-python`` folder (train, test, meta), read without torchvision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kbsc.data.base import Dataset, ImageSet
from kbsc.data.cifar_format import CIFAR_FILES, check_cifar_folder, read_cifar_split
from kbsc.data.folder import MIN_PER_SPLIT
from kbsc.data.registry import DATASETS
from kbsc.data.splits import require_per_class
from kbsc.errors import ConfigError, DataError

__all__ = ["Cifar100Dataset"]


class Cifar100Dataset(Dataset):
    """CIFAR-100 from its python-pickle folder, read with the restricted unpickler; splits kept in memory."""

    name = "cifar100"

    def __init__(self, root: str | Path) -> None:
        self._root = check_cifar_folder(root)
        self._cache: dict[str, ImageSet] = {}

    @property
    def root(self) -> Path:
        return self._root

    def load(self, split: str) -> ImageSet:
        """Split ``train`` or ``test``. The first call reads and checks both (the testbed always needs both,
        and a test split too small for it must be refused before the training split's features exist)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not self._cache:
            sets = {s: read_cifar_split(self._root, s, name=self.name) for s in ("train", "test")}
            for s, images in sets.items():
                check_class_counts(images, f"{self._root / s}")
            self._cache.update(sets)
        return self._cache[split]


def check_class_counts(images: ImageSet, where: str) -> None:
    """At least two classes, and every class of the meta file with at least :data:`MIN_PER_SPLIT` images in
    the split (the test split is halved into sender images and knowledge base; the folder route's rule)."""
    counts = np.bincount(np.asarray(images.labels, dtype=np.int64), minlength=len(images.class_names))
    if len(images.class_names) < 2 or int((counts > 0).sum()) < 2:
        raise DataError(
            f"{where} has images of {int((counts > 0).sum())} class; retrieval accuracy needs at least two"
        )
    require_per_class(
        images.labels, images.class_names, MIN_PER_SPLIT, str(where),
        f"every class needs at least {MIN_PER_SPLIT} images in each split",
    )  # fmt: skip


@DATASETS.register("cifar100")
def _make_cifar100(data_dir: Path, root: str | Path | None = None, **options: Any) -> Cifar100Dataset:
    if options:
        raise ConfigError(f"the cifar100 dataset takes no options, got {', '.join(sorted(options))}")
    if root is None:
        raise ConfigError(
            "the cifar100 dataset needs its folder: pass --dataset-root /path/to/cifar-100-python "
            f"(the folder holding {', '.join(CIFAR_FILES)})"
        )
    return Cifar100Dataset(root)
