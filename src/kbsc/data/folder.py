"""``folder``: the user's own images, one sub-folder per class, at least two classes.

Two layouts are accepted::

    root/train/<class name>/*.png|jpg|jpeg|bmp|gif|webp      (your own split)
    root/test/<class name>/*

    root/<class name>/*.png|jpg|…                            (no train/ and test/: split here)

Without ``train/`` and ``test/`` every class is split at random into training and test images, a fraction
``test_fraction`` (default 0.3) of each class for test, with a generator seeded by (``split_seed``, class);
the rule is in each split's ``meta["split_rule"]`` (``kbsc prepare`` prints it). Every class needs at least
2 training and 2 test images (the test split is halved into sender images and the knowledge base); fewer,
or fewer than two classes, is refused with a one-line error.

Every image is converted to RGB and resized to 32×32 with Pillow's Lanczos filter, without keeping the
aspect ratio (crop your images first if that matters): the testbed's source dimension is fixed at
32·32·3 = 3072. Class names are the sorted sub-folder names of ``train`` (or of ``root``); ``test`` may only
use those. Files are read in sorted order, so ids (= position in the split) are stable.
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
LAYOUT = (
    "expected root/<class>/*.png|jpg (split here) or root/train/<class>/* and root/test/<class>/*, "
    "one sub-folder per class, at least two classes"
)
MIN_PER_SPLIT = 2  # training and test images per class (test is halved into senders and knowledge base)
_SPLIT_PURPOSE = 0xF01D


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
    """Images in class sub-folders (under ``root/train`` and ``root/test``, or split here), as 32×32 RGB."""

    name = "folder"

    def __init__(
        self,
        root: str | Path,
        show_progress: bool = True,
        split_seed: int = 0,
        test_fraction: float = 0.3,
    ) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"image folder {root} does not exist; {LAYOUT}")
        if not 0 < float(test_fraction) < 1:
            raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        self._root = root
        self.show_progress = show_progress
        self.split_seed, self.test_fraction = int(split_seed), float(test_fraction)
        self._cache: dict[str, ImageSet] = {}
        self.presplit = (root / "train").is_dir() or (root / "test").is_dir()
        if self.presplit:
            train_dir = root / "train"
            if not train_dir.is_dir():
                raise DataError(f"image folder {root} has no 'train' sub-folder; {LAYOUT}")
            classes = [p.name for p in _class_dirs(train_dir)]
            if not classes:
                raise DataError(f"{train_dir} has no class sub-folders; {LAYOUT}")
            self.split_rule = f"your split: {root / 'train'} and {root / 'test'}"
        else:
            classes = [p.name for p in _class_dirs(root) if _image_files(p)]
            if not classes:
                raise DataError(f"image folder {root} has no class sub-folders with images; {LAYOUT}")
            pct = round(100 * self.test_fraction)
            self.split_rule = (
                f"no train/ and test/ in {root}: each class split at random, {100 - pct} % train / {pct} % "
                f"test, seed {self.split_seed}"
            )
        if len(classes) < 2:
            raise DataError(
                f"image folder {root} has {len(classes)} class ({', '.join(classes)}); retrieval accuracy "
                "needs at least two classes (one sub-folder each)"
            )
        self.class_names = classes

    @property
    def root(self) -> Path:
        return self._root

    def load(self, split: str) -> ImageSet:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self._cache:
            files, labels, base = self._listing(split) if self.presplit else self._split_listing(split)
            self._cache[split] = self._read(split, files, labels, base)
        return self._cache[split]

    def _listing(self, split: str) -> tuple[list[Path], list[int], Path]:
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
        return files, labels, split_dir

    def _split_listing(self, split: str) -> tuple[list[Path], list[int], Path]:
        """Per class: a seeded permutation of its sorted files; the first round(f·n) are test."""
        files: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(self.class_names):
            found = _image_files(self._root / name)
            n_test = int(round(self.test_fraction * len(found)))
            if min(n_test, len(found) - n_test) < MIN_PER_SPLIT:
                raise DataError(
                    f"class {name!r} in {self._root} has {len(found)} images: too few for a "
                    f"{round(100 * self.test_fraction)} % test split with at least {MIN_PER_SPLIT} training "
                    f"and {MIN_PER_SPLIT} test images; add images or remove the class"
                )
            perm = np.random.default_rng([_SPLIT_PURPOSE, self.split_seed, label]).permutation(len(found))
            chosen = np.sort(perm[:n_test] if split == "test" else perm[n_test:])
            files.extend(found[i] for i in chosen)
            labels.extend([label] * len(chosen))
        return files, labels, self._root

    def _read(self, split: str, files: list[Path], labels: list[int], base: Path) -> ImageSet:
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
                "split_rule": self.split_rule,
                "files": [str(p.relative_to(base)) for p in files],
            },
        )


@DATASETS.register("folder")
def _make_folder(data_dir: Path, root: str | Path | None = None, **options: Any) -> ImageFolderDataset:
    if root is None:
        raise ConfigError(f"the folder dataset needs its folder: pass --dataset-root DIR ({LAYOUT})")
    unknown = sorted(set(options) - {"show_progress", "split_seed", "test_fraction"})
    if unknown:
        raise ConfigError(
            f"unknown folder dataset option(s) {', '.join(unknown)}; known: split_seed, test_fraction"
        )
    return ImageFolderDataset(root, **options)
