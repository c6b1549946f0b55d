"""``folder``: the user's own images, one sub-folder per class, in ``root/train`` and ``root/test``.

Layout::

    root/train/<class name>/*.png|jpg|jpeg|bmp|gif|webp
    root/test/<class name>/*

Every image is converted to RGB and resized to 32×32 with Pillow's Lanczos filter, without keeping the
aspect ratio (crop your images first if that matters): the testbed's source dimension is fixed at
32·32·3 = 3072. Class names are the sorted sub-folder names of ``train``; ``test`` may only use those.
Files are read in sorted order, so ids (= position in the split) are stable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from kbsc.data.base import Dataset, ImageSet
from kbsc.data.registry import DATASETS
from kbsc.errors import ConfigError, DataError
from kbsc.util import progress

__all__ = ["IMAGE_SUFFIXES", "ImageFolderDataset", "load_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SIDE = 32
LAYOUT = "expected root/train/<class>/*.png|jpg and root/test/<class>/* (one sub-folder per class)"


def load_image(path: Path, side: int = SIDE) -> np.ndarray:
    """One image file → uint8 ``[side, side, 3]`` (RGB, Lanczos-resized); unreadable → :class:`DataError`."""
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            if rgb.size != (side, side):
                rgb = rgb.resize((side, side), Image.Resampling.LANCZOS)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path} ({type(exc).__name__}: {exc}); fix or remove it") from None


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(class_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in class_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


class ImageFolderDataset(Dataset):
    """Images in class sub-folders under ``root/train`` and ``root/test``, as 32×32 RGB."""

    name = "folder"

    def __init__(self, root: str | Path, show_progress: bool = True) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"image folder {root} does not exist; {LAYOUT}")
        train_dir = root / "train"
        if not train_dir.is_dir():
            raise DataError(f"image folder {root} has no 'train' sub-folder; {LAYOUT}")
        classes = [p.name for p in _class_dirs(train_dir)]
        if not classes:
            raise DataError(f"{train_dir} has no class sub-folders; {LAYOUT}")
        self._root = root
        self.class_names = classes
        self.show_progress = show_progress
        self._cache: dict[str, ImageSet] = {}

    @property
    def root(self) -> Path:
        return self._root

    def load(self, split: str) -> ImageSet:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self._cache:
            self._cache[split] = self._read(split)
        return self._cache[split]

    def _read(self, split: str) -> ImageSet:
        split_dir = self._root / split
        if not split_dir.is_dir():
            raise DataError(f"image folder {self._root} has no {split!r} sub-folder; {LAYOUT}")
        index = {name: i for i, name in enumerate(self.class_names)}
        files: list[Path] = []
        labels: list[int] = []
        for class_dir in _class_dirs(split_dir):
            if class_dir.name not in index:
                raise DataError(
                    f"{class_dir} is a class that {self._root / 'train'} does not have; "
                    "test classes must also appear in train"
                )
            found = _image_files(class_dir)
            files.extend(found)
            labels.extend([index[class_dir.name]] * len(found))
        if not files:
            raise DataError(
                f"{split_dir} holds no images (looked for {', '.join(IMAGE_SUFFIXES)} in class sub-folders)"
            )
        bar = progress(
            files, desc=f"reading {split} images", **({} if self.show_progress else {"disable": True})
        )
        images = np.stack([load_image(p) for p in bar])
        return ImageSet(
            images=images,
            labels=np.asarray(labels, dtype=np.int64),
            class_names=list(self.class_names),
            name=f"folder-{self._root.name}-{split}",
            ids=np.arange(len(files), dtype=np.int64),
            meta={
                "root": str(self._root),
                "split": split,
                "files": [str(p.relative_to(split_dir)) for p in files],
            },
        )


@DATASETS.register("folder")
def _make_folder(data_dir: Path, root: str | Path | None = None, **options: Any) -> ImageFolderDataset:
    if root is None:
        raise ConfigError(f"the folder dataset needs its folder: pass --dataset-root DIR ({LAYOUT})")
    unknown = sorted(set(options) - {"show_progress"})
    if unknown:
        raise ConfigError(f"the folder dataset takes no option(s) {', '.join(unknown)}")
    return ImageFolderDataset(root, **options)
