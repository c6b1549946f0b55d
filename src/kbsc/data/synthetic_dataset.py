"""``synthetic100``: the embedded default dataset, generated once and cached in the CIFAR-100 python format.

Cache: ``data_dir/datasets/synthetic100-seed<S>/`` with ``train``, ``test``, ``meta`` (the same pickles as
a ``cifar-100-python`` folder, so the one restricted reader serves both) and ``manifest.json`` (generator
version, seed, file hashes). A cache whose manifest does not match the generator or whose files changed is
regenerated (with a note on stderr). The folder is built next to its final place and renamed into it, under
a file lock, so concurrent runs never see half a cache.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from kbsc.data.base import Dataset, ImageSet
from kbsc.data.cifar_format import CIFAR_FILES, read_cifar_split, write_cifar_folder
from kbsc.data.registry import DATASETS
from kbsc.data.synthetic import GENERATOR_VERSION, coarse_names, generate_synthetic100
from kbsc.errors import ConfigError, DataError
from kbsc.util import hash_file, hash_obj, read_manifest, write_manifest

__all__ = ["Synthetic100Dataset", "synthetic_cache_dir"]


def _size_tag(n_train: int, n_test: int, classes: tuple[int, ...] | None) -> str:
    """'' for the standard set; a suffix naming a reduced one (tests, quick looks)."""
    if (n_train, n_test, classes) == (500, 100, None):
        return ""
    tag = f"-n{n_train}x{n_test}"
    if classes is not None:
        tag += "-c" + hash_obj(list(classes), 8)
    return tag


def synthetic_cache_dir(
    data_dir: Path,
    seed: int = 0,
    n_train: int = 500,
    n_test: int = 100,
    classes: tuple[int, ...] | None = None,
) -> Path:
    """``data_dir/datasets/synthetic100-seed<S>/`` (reduced sets get a suffix)."""
    return Path(data_dir) / "datasets" / f"synthetic100-seed{seed}{_size_tag(n_train, n_test, classes)}"


def _expected_manifest(
    seed: int, n_train: int = 500, n_test: int = 100, classes: tuple[int, ...] | None = None
) -> dict[str, Any]:
    return {
        "kind": "dataset",
        "name": "synthetic100",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "per_class": [n_train, n_test],
        "classes": None if classes is None else list(classes),
    }


def cache_problem(folder: Path, expected: dict[str, Any]) -> str | None:
    """Why the cache at ``folder`` cannot be used (None if it is good)."""
    if not folder.is_dir():
        return "missing"
    try:
        stored = read_manifest(folder)
    except DataError as exc:
        return str(exc)
    diffs = [k for k, v in expected.items() if stored.get(k) != v]
    if diffs:
        return "made by a different generator (" + ", ".join(f"{k}={stored.get(k)!r}" for k in diffs) + ")"
    files = stored.get("files") or {}
    for name in CIFAR_FILES:
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if hash_file(path, 32) != files.get(name):
            return f"{name} changed since it was generated"
    return None


class Synthetic100Dataset(Dataset):
    """The generated CIFAR-100-shaped set for ``seed``, cached under ``data_dir/datasets``.

    n_train, n_test, classes: a reduced set (fewer images per class, some classes) for tests and quick looks;
    it is cached in its own folder.
    """

    name = "synthetic100"

    def __init__(
        self,
        data_dir: Path,
        seed: int = 0,
        show_progress: bool = True,
        n_train: int = 500,
        n_test: int = 100,
        classes: Sequence[int] | None = None,
    ) -> None:
        self.seed = int(seed)
        self.n_train, self.n_test = int(n_train), int(n_test)
        self.classes = None if classes is None else tuple(sorted({int(c) for c in classes}))
        self.folder = synthetic_cache_dir(data_dir, self.seed, self.n_train, self.n_test, self.classes)
        self.expected = _expected_manifest(self.seed, self.n_train, self.n_test, self.classes)
        self.show_progress = show_progress
        self._cache: dict[str, ImageSet] = {}
        self._checked = False

    @property
    def root(self) -> Path:
        return self.folder

    def ensure(self) -> Path:
        """Generate the cache if it is missing, stale or corrupt; return its folder."""
        if self._checked:
            return self.folder
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.folder) + ".lock"):
            problem = cache_problem(self.folder, self.expected)
            if problem is not None:
                if problem != "missing":
                    print(
                        f"kbsc: synthetic100 cache at {self.folder}: {problem}; regenerating", file=sys.stderr
                    )
                self._generate()
        self._checked = True
        return self.folder

    def _generate(self) -> None:
        train, test = generate_synthetic100(
            self.seed, self.n_train, self.n_test, self.classes, show_progress=self.show_progress
        )
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.", suffix=".tmp", dir=self.folder.parent))
        try:
            write_cifar_folder(tmp, {"train": train, "test": test}, coarse_names())
            files = {name: hash_file(tmp / name, 32) for name in CIFAR_FILES}
            write_manifest(
                tmp,
                {
                    **self.expected,
                    "files": files,
                    "n_train": len(train),
                    "n_test": len(test),
                    "fingerprint": {"train": train.fingerprint, "test": test.fingerprint},
                },
            )
            if self.folder.exists():
                shutil.rmtree(self.folder)
            os.replace(tmp, self.folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def load(self, split: str) -> ImageSet:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self._cache:
            self.ensure()
            name = f"{self.name}-seed{self.seed}{_size_tag(self.n_train, self.n_test, self.classes)}"
            self._cache[split] = read_cifar_split(self.folder, split, name=name)
            self._cache[split].meta["seed"] = self.seed
        return self._cache[split]


@DATASETS.register("synthetic100")
def _make_synthetic100(data_dir: Path, root: str | Path | None = None, **options: Any) -> Synthetic100Dataset:
    if root is not None:
        raise ConfigError(
            "synthetic100 is generated, not read from a folder; drop --dataset-root (or use cifar100)"
        )
    allowed = {"seed", "show_progress", "n_train", "n_test", "classes"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(
            f"synthetic100 takes the options {', '.join(sorted(allowed))}, not {', '.join(unknown)}"
        )
    return Synthetic100Dataset(data_dir, **options)
