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
use those, and with your own split every class needs at least 2 images in each of ``train`` and ``test``
(checked when the dataset is opened, before anything is written). Files are read in sorted order, so ids
(= position in the split) are stable.

Bounds (docs/design.md §7): an image of more than :data:`MAX_PIXELS` pixels (width × height, read from its
header before decoding) is refused in one line; 16-bit grayscale images are scaled to 8 bits (not clipped);
entries named like images that are not regular files (FIFOs, devices, dangling links) are skipped with one
warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from kbsc.data.base import Dataset, ImageSet
from kbsc.data.registry import DATASETS
from kbsc.data.splits import require_per_class
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
MAX_PIXELS = 40_000_000  # per image file (a 6,300 × 6,300 photo); the testbed resizes to 32 × 32 anyway
_SPLIT_PURPOSE = 0xF01D


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit (and 32-bit integer) grayscale → 8-bit grayscale by scaling its range (convert() would clip)."""
    if not (im.mode.startswith("I;16") or im.mode == "I"):
        return im
    a = np.asarray(im).astype(np.float64)
    top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) <= 65535 else float(a.max())
    return Image.fromarray(np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8), "L")


def load_image(path: Path, side: int = SIDE) -> np.ndarray:
    """One image file → uint8 ``[side, side, 3]`` (RGB, Lanczos-resized); unreadable or more than
    :data:`MAX_PIXELS` pixels → :class:`DataError` (one line)."""
    try:
        with warnings.catch_warnings():  # Pillow's own multi-line bomb warning: our limit comes first
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im_ctx = Image.open(path)
        with im_ctx as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DataError(
                    f"image {path} has {w} × {h} = {w * h:,} pixels, above the limit of {MAX_PIXELS:,}; "
                    "downscale it (the testbed uses 32 × 32) or remove it"
                )
            rgb = _to_8bit(im).convert("RGB")
            if rgb.size != (side, side):
                rgb = rgb.resize((side, side), Image.Resampling.LANCZOS)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except Image.DecompressionBombError:  # past twice Pillow's own limit: refused by Image.open itself
        raise DataError(
            f"image {path} has more than {MAX_PIXELS:,} pixels (the limit); downscale it or remove it"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise DataError(
            f"cannot read image {path} ({type(exc).__name__}: {first}); fix or remove it"
        ) from None


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(class_dir: Path) -> list[Path]:
    """Regular image files of a class folder, sorted; entries named like images that are not regular files
    (FIFOs, devices, dangling links: reading them could block or never end) are reported, then skipped."""
    named = [p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.name[:1] != "."]
    files = sorted(p for p in named if p.is_file())  # follows links: a link to a device is not a file
    odd = sorted(set(named) - set(files))
    if odd:
        from kbsc.util.warn import warn  # lazy: only this path needs it

        more = f" and {len(odd) - 1} more" if len(odd) > 1 else ""
        warn(f"{odd[0]}{more} in {class_dir} named like images are not regular files (FIFO, device or "
             "dangling link); skipped")  # fmt: skip
    return files


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
        self._listings: dict[str, tuple[list[Path], list[int], Path]] = {}
        for split in ("train", "test"):  # every split's listing and per-class counts, before anything is read
            self._listings[split] = self._listing(split) if self.presplit else self._split_listing(split)

    @property
    def root(self) -> Path:
        return self._root

    def load(self, split: str) -> ImageSet:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self._cache:
            files, labels, base = self._listings[split]
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
        require_per_class(
            labels, self.class_names, MIN_PER_SPLIT, str(split_dir),
            f"every class needs at least {MIN_PER_SPLIT} {split} images; add images or remove the class",
        )  # fmt: skip
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
