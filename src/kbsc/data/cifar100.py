"""``cifar100``: the user's ``cifar-100-python`` folder (train, test, meta), read without torchvision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kbsc.data.base import Dataset, ImageSet
from kbsc.data.cifar_format import CIFAR_FILES, check_cifar_folder, read_cifar_split
from kbsc.data.registry import DATASETS
from kbsc.errors import ConfigError

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
        if split not in self._cache:
            self._cache[split] = read_cifar_split(self._root, split, name=self.name)
        return self._cache[split]


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
