"""Cache manifests: every cache carries the hash of what made it; a mismatch is refused, never reused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kbsc.errors import DataError
from kbsc.util.io import atomic_write_json, read_json

Manifest = dict[str, Any]

MANIFEST_NAME = "manifest.json"


def _path(target: str | os.PathLike[str]) -> Path:
    target = Path(target)
    return target / MANIFEST_NAME if target.is_dir() or not target.suffix else target


def write_manifest(target: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Write ``manifest.json`` into directory ``target`` (or to the ``.json`` path given)."""
    return atomic_write_json(_path(target), manifest)


def read_manifest(target: str | os.PathLike[str]) -> Manifest:
    """The manifest as a mapping; a missing, corrupt or non-object file is a one-line :class:`DataError`."""
    path = _path(target)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path} is not a manifest (a JSON object), got a {type(data).__name__}")
    return data


def check_manifest(
    target: str | os.PathLike[str],
    expected: Manifest,
    what: str,
    fix: str = "delete it or rebuild it with `kbsc prepare --force`",
) -> Manifest:
    """Compare the stored manifest's keys in ``expected``; raise a one-line :class:`DataError` on mismatch.

    fix: what the user should do, ending the message (a cache that `kbsc prepare --force` does not rebuild
    names the folder to delete instead).
    """
    stored = read_manifest(target)
    diffs = [
        f"{k}: stored {stored.get(k)!r}, expected {v!r}" for k, v in expected.items() if stored.get(k) != v
    ]
    if diffs:
        raise DataError(f"{what} at {target} was made with different inputs ({'; '.join(diffs)}); {fix}")
    return stored
