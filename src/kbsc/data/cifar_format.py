"""The CIFAR-100 python format: read (untrusted, restricted unpickler) and write (for synthetic100).

A ``cifar-100-python`` folder holds three pickles of dicts with byte-string keys:

* ``train`` / ``test``: ``b'data'`` uint8 ``[N, 3072]`` (rows: R, G, B 32×32 planes, row-major),
  ``b'fine_labels'`` ``[N]`` ints, ``b'coarse_labels'`` ``[N]`` ints, ``b'filenames'`` ``[N]`` names
  (plus ``b'batch_label'``).
* ``meta``: ``b'fine_label_names'`` (100 names) and ``b'coarse_label_names'`` (20 names).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.data.base import ImageSet
from kbsc.data.safe_pickle import safe_load
from kbsc.errors import DataError
from kbsc.util import atomic_write_bytes

__all__ = [
    "CIFAR_FILES",
    "check_cifar_folder",
    "images_to_rows",
    "read_cifar_split",
    "rows_to_images",
    "write_cifar_folder",
]

CIFAR_FILES = ("train", "test", "meta")
SIDE = 32
ROW = 3 * SIDE * SIDE


def rows_to_images(rows: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 3072]`` channel-planar rows → ``[N, 32, 32, 3]`` images."""
    return np.ascontiguousarray(rows.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1))


def images_to_rows(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 32, 32, 3]`` images → ``[N, 3072]`` channel-planar rows."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(-1, ROW))


def _expected(folder: Path) -> str:
    return (
        f"expected a cifar-100-python folder at {folder} with the files {', '.join(CIFAR_FILES)} "
        "(from https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz, extracted)"
    )


def check_cifar_folder(folder: str | os.PathLike[str]) -> Path:
    """Return the folder if it has ``train``, ``test`` and ``meta``; else a :class:`DataError` naming them."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; {_expected(folder)}")
    missing = [name for name in CIFAR_FILES if not (folder / name).is_file()]
    if missing:
        nested = folder / "cifar-100-python"
        hint = f" (did you mean {nested}?)" if nested.is_dir() else ""
        raise DataError(f"{folder} lacks {', '.join(missing)}{hint}; {_expected(folder)}")
    return folder


def _load_dict(path: Path, folder: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            obj = safe_load(fh, source=str(path))
    except OSError as exc:
        raise DataError(
            f"cannot read {path} ({exc.strerror or type(exc).__name__}); {_expected(folder)}"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} holds a {type(obj).__name__}, not a dict; {_expected(folder)}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _names(value: Any, path: Path, key: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, bytes | str) for v in value):
        raise DataError(f"{path}: {key!r} must be a list of names")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]


def _labels(value: Any, n: int, n_classes: int, path: Path, key: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{path}: {key!r} must be {n} integer labels, got {arr.dtype} {arr.shape}")
    if n and (arr.min() < 0 or arr.max() >= n_classes):
        raise DataError(f"{path}: {key!r} has labels outside [0, {n_classes}) of the meta file's names")
    return arr.astype(np.int64)


def read_cifar_split(folder: str | os.PathLike[str], split: str, name: str = "cifar100") -> ImageSet:
    """Read split ``"train"`` or ``"test"`` of a CIFAR-100 python folder (validated, restricted unpickler).

    Returns an :class:`ImageSet` named ``"<name>-<split>"`` with uint8 images ``[N, 32, 32, 3]``, fine labels,
    coarse labels, fine class names from ``meta`` and ids = index within the split file.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = check_cifar_folder(folder)
    meta_path, split_path = folder / "meta", folder / split
    meta = _load_dict(meta_path, folder)
    if "fine_label_names" not in meta:
        raise DataError(f"{meta_path} has no b'fine_label_names'; {_expected(folder)}")
    fine_names = _names(meta["fine_label_names"], meta_path, "fine_label_names")
    coarse_names = _names(meta.get("coarse_label_names", []), meta_path, "coarse_label_names")

    d = _load_dict(split_path, folder)
    missing = [k for k in ("data", "fine_labels") if k not in d]
    if missing:
        raise DataError(
            f"{split_path} lacks {', '.join('b' + repr(k) for k in missing)}; {_expected(folder)}"
        )
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != ROW or data.dtype != np.uint8:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{split_path}: b'data' must be uint8 [N, {ROW}] (32×32 RGB planes), got {got}")
    n = data.shape[0]
    if n == 0:
        raise DataError(f"{split_path} holds no images (b'data' has 0 rows); {_expected(folder)}")
    fine = _labels(d["fine_labels"], n, len(fine_names), split_path, "fine_labels")
    coarse = None
    if "coarse_labels" in d and coarse_names:
        coarse = _labels(d["coarse_labels"], n, len(coarse_names), split_path, "coarse_labels")
    return ImageSet(
        images=rows_to_images(data),
        labels=fine,
        class_names=fine_names,
        name=f"{name}-{split}",
        coarse=coarse,
        ids=np.arange(n, dtype=np.int64),
        meta={"root": str(folder), "split": split, "coarse_names": coarse_names},
    )


def write_cifar_folder(
    folder: str | os.PathLike[str],
    splits: dict[str, ImageSet],
    coarse_names: list[str],
) -> dict[str, Path]:
    """Write ``train``, ``test``, ``meta`` pickles (byte keys, as the original) atomically in ``folder``."""
    folder = Path(folder)
    paths: dict[str, Path] = {}
    class_names: list[str] = []
    for split, images in splits.items():
        class_names = images.class_names
        n = len(images)
        coarse = images.coarse if images.coarse is not None else np.zeros(n, np.int64)
        record = {
            b"batch_label": f"{split} batch".encode(),
            b"filenames": [
                f"{images.class_names[c]}_{i:05d}.png".encode() for i, c in enumerate(images.labels)
            ],
            b"fine_labels": [int(x) for x in images.labels],
            b"coarse_labels": [int(x) for x in coarse],
            b"data": images_to_rows(images.images),
        }
        paths[split] = atomic_write_bytes(folder / split, pickle.dumps(record, protocol=4))
    meta = {
        b"fine_label_names": [n.encode() for n in class_names],
        b"coarse_label_names": [n.encode() for n in coarse_names],
    }
    paths["meta"] = atomic_write_bytes(folder / "meta", pickle.dumps(meta, protocol=4))
    return paths
