"""Feature cache: ``data_dir/features/<extractor fingerprint>-<image-set fingerprint>.npy`` plus a manifest.

The manifest (``.json`` beside the array) records both fingerprints, the shape and the array's content hash.
A cache whose manifest or content does not match is rebuilt, never reused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kbsc.data.base import ImageSet
from kbsc.errors import DataError
from kbsc.features.base import Extractor
from kbsc.util import hash_array, read_manifest, write_manifest
from kbsc.util.device import describe_device
from kbsc.util.io import atomic_write


def feature_cache_path(extractor: Extractor, images: ImageSet, data_dir: str | Path) -> Path:
    return Path(data_dir) / "features" / f"{extractor.cache_tag}-{images.fingerprint}.npy"


def _load_valid(path: Path, expected: dict) -> np.ndarray | None:
    """The cached array if it and its manifest match ``expected``; None otherwise."""
    manifest_path = path.with_suffix(".json")
    if not (path.is_file() and manifest_path.is_file()):
        return None
    try:
        manifest = read_manifest(manifest_path)
        if any(manifest.get(k) != v for k, v in expected.items()):
            return None
        feats = np.load(path, allow_pickle=False)
    except (DataError, ValueError, OSError):
        return None
    if list(feats.shape) != expected["shape"] or hash_array(feats, 32) != manifest.get("sha256"):
        return None
    return feats


def features_for(
    extractor: Extractor, images: ImageSet, data_dir: str | Path, show_progress: bool = True
) -> np.ndarray:
    """Features of ``images`` under ``extractor``, from the cache or computed and cached.

    returns float32 ``[N, dim]`` with unit rows
    """
    path = feature_cache_path(extractor, images, data_dir)
    expected = {
        "extractor": extractor.name,
        "extractor_fingerprint": extractor.fingerprint,
        "images_fingerprint": images.fingerprint,
        "shape": [len(images), extractor.dim],
        **({"precision": extractor.precision} if extractor.precision != "fp32" else {}),
    }
    feats = _load_valid(path, expected)
    if feats is not None:
        return feats
    feats = extractor.extract(images.images, show_progress=show_progress)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, feats, allow_pickle=False)

    atomic_write(path, write)
    write_manifest(
        path.with_suffix(".json"),
        {
            **expected,
            "images": images.name,
            "dtype": str(feats.dtype),
            "sha256": hash_array(feats, 32),
            # where they were extracted (not a cache key: other devices agree up to float rounding)
            "device": describe_device(),
        },
    )
    return feats
