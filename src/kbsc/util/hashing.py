"""Content hashes for caches and manifests (sha256, hex, truncated where a short id is enough)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def hash_bytes(data: bytes, n: int = 16) -> str:
    return hashlib.sha256(data).hexdigest()[:n]


def hash_array(arr: np.ndarray, n: int = 16) -> str:
    """Hash of dtype, shape and contents of an array."""
    import numpy as np  # here, not at import: the file hashes serve numpy-free start-up paths

    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256()
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:n]


def hash_obj(obj: Any, n: int = 16) -> str:
    """Hash of a JSON-serialisable object (keys sorted), e.g. a configuration."""
    return hash_bytes(json.dumps(obj, sort_keys=True, default=str).encode(), n)


def hash_file(path: str | os.PathLike[str], n: int = 16) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (``n=64``: the whole hex digest)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]
