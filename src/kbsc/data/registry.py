"""Datasets by name: ``DATASETS`` (name → factory) and :func:`get_dataset`.

A factory is called as ``factory(data_dir, root, **options)`` and returns a :class:`~kbsc.data.base.Dataset`;
``data_dir`` is the kbsc data directory (caches), ``root`` the user's dataset folder where one is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbsc.data.base import Dataset
from kbsc.util import Registry

__all__ = ["DATASETS", "get_dataset"]

DatasetFactory = Callable[..., Dataset]
# Modules that register datasets; imported on the first lookup (the package __init__ is lazy).
DATASETS: Registry[DatasetFactory] = Registry(
    "dataset", modules=("kbsc.data.synthetic_dataset", "kbsc.data.cifar100", "kbsc.data.folder")
)


def get_dataset(name: str, data_dir: Path, root: str | Path | None = None, **options: Any) -> Dataset:
    """The dataset ``name`` (``synthetic100``, ``cifar100`` or ``folder``) with caches under ``data_dir``.

    root: the dataset's folder for ``cifar100`` (a ``cifar-100-python`` folder) and ``folder``
          (``root/train/<class>/*``, ``root/test/<class>/*``); not used by ``synthetic100``.
    options: dataset-specific settings, e.g. ``seed`` for ``synthetic100``.
    """
    return DATASETS.get(name)(Path(data_dir), root, **options)
