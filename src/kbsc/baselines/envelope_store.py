"""On-disk memo of best-MCS envelopes, so that one envelope is computed once per grid point.

``hevc+capacity`` takes, per image, the better of its capacity delivery and the best fixed-MCS outcome over
``mcs_set``; that second part is exactly the ``hevc+ldpc-best`` envelope of the same grid point when the two
systems share the runner options and the MCS set (the paper preset's default). The envelope is the costly part
of both cells (every image through up to 14 NR links), so the first cell to finish stores it here and the
other reads it back. The memo lives on disk, not in a worker, so it does not matter which worker of the pool
gets which cell; two workers computing the same envelope at once both write the same file atomically.

**Key (DESIGN.md §7: a cache names the content it came from).** The SHA-256 of: the pixels, ids and labels of
the images; the realization fingerprint of the cell (the digests of every slot's channel and noise) and the
bridge's configuration (channel, CSI estimator, grid); k, SNR and the MCS set; the runner's
configuration (codec settings, failure mode, LDPC decoder, iterations, MCS table); the extractor's
fingerprint, the knowledge base's content hash and the fallback image; and a digest of the source code
that computes an envelope (the link, bridge, LDPC engine, codecs, pipeline). A change in any of them is a
different file, never a stale hit.
Each file also carries the SHA-256 of its arrays, checked on every read; a file that fails it is a miss
(recomputed and rewritten). ``<data dir>/baselines/envelopes/<key>.npz``, or ``$KBSC_ENVELOPE_DIR/<key>.npz``
when that is set.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.baselines.pipeline import BaselineRunner, CellResult
from kbsc.util import atomic_write_bytes, hash_array, hash_obj

__all__ = ["ENVELOPE_DIR_ENV", "EnvelopeStore", "code_digest", "envelope_key"]

#: bump when the stored layout changes
SCHEMA = 1
#: environment variable that moves the memo out of the data directory (``kbsc bench`` points it at an empty
#: folder so that its slice computes every envelope, as a grid does)
ENVELOPE_DIR_ENV = "KBSC_ENVELOPE_DIR"
#: packages whose code decides an envelope's outcome
_CODE_PACKAGES = ("kbsc.baselines", "kbsc.bridge", "kbsc.nrlink", "kbsc.metrics")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 (24 hex) of every ``.py`` file under :data:`_CODE_PACKAGES` (path and content)."""
    import importlib

    h = hashlib.sha256()
    for name in _CODE_PACKAGES:
        root = Path(importlib.import_module(name).__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:24]


_KB_HASHES: dict[int, tuple[Any, str]] = {}


def _kb_hash(kb: Any) -> str | None:
    """The knowledge base's content hash (computed once per object: it serializes the index), else a hash
    of its ``features`` and ``labels``; None when the object offers neither (then nothing is memoized)."""
    hit = _KB_HASHES.get(id(kb))
    if hit is None or hit[0] is not kb:
        fn = getattr(kb, "content_hash", None)
        if callable(fn):
            value: str | None = str(fn())
        elif hasattr(kb, "features") and hasattr(kb, "labels"):
            value = hash_obj([hash_array(np.asarray(kb.features), 32), hash_array(np.asarray(kb.labels), 32)])
        else:
            value = None
        hit = (kb, value)
        _KB_HASHES[id(kb)] = hit
    return hit[1]


def envelope_key(
    runner: BaselineRunner,
    images: np.ndarray,
    image_ids: np.ndarray,
    labels: np.ndarray,
    k: int,
    snr_db: float,
    bridge: Any,
    mcs_set: list[int],
    extractor: Any,
    kb: Any,
    fallback: np.ndarray,
) -> str | None:
    """The memo key of ``best_over_mcs`` with these arguments (see the module docstring); None when the
    knowledge base cannot be identified by content."""
    kb_hash = _kb_hash(kb)
    if kb_hash is None:
        return None
    ids = np.asarray(image_ids, dtype=np.int64)
    parts = {
        "schema": SCHEMA,
        "code": code_digest(),
        "images": hash_array(np.ascontiguousarray(images), 32),
        "ids": hash_array(ids, 32),
        "labels": hash_array(np.asarray(labels, dtype=np.int64), 32),
        "realizations": bridge.fingerprint(ids, int(k)),
        "bridge": bridge.config() if callable(getattr(bridge, "config", None)) else repr(bridge),
        "k": int(k),
        "snr_db": float(snr_db),
        "mcs_set": [int(m) for m in mcs_set],
        "runner": {
            "codec": runner.codec.settings(),
            "failure": runner.failure,
            "decoder": runner.decoder,
            "num_iter": runner.num_iter,
            "mcs_table": runner.mcs_table,
        },
        "extractor": str(getattr(extractor, "fingerprint", type(extractor).__name__)),
        "kb": kb_hash,
        "fallback": hash_array(np.ascontiguousarray(fallback), 32),
    }
    return hash_obj(parts, 40)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(hash_array(arrays[name], 64).encode())
    return h.hexdigest()


class EnvelopeStore:
    """key → :class:`CellResult` (retrieved and extras; timings and pending are not kept)."""

    def __init__(self, root: Path | None) -> None:
        override = os.environ.get(ENVELOPE_DIR_ENV)
        if root is None:
            self.dir = None
        else:
            self.dir = Path(override) if override else Path(root) / "envelopes"
        self.n_rejected = 0

    def _path(self, key: str) -> Path | None:
        return None if self.dir is None else self.dir / f"{key}.npz"

    def get(self, key: str) -> CellResult | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
            meta = json.loads(str(arrays.pop("__meta__")))
        except (OSError, ValueError, KeyError):
            self.n_rejected += 1
            return None
        if meta.get("schema") != SCHEMA or meta.get("key") != key or meta.get("sha256") != _digest(arrays):
            self.n_rejected += 1
            return None
        retrieved = arrays.pop("retrieved")
        extras = {name[len("x_") :]: v for name, v in arrays.items() if name.startswith("x_")}
        return CellResult(retrieved=retrieved, extras=extras)

    def put(self, key: str, res: CellResult) -> None:
        path = self._path(key)
        if path is None:
            return
        arrays = {"retrieved": np.asarray(res.retrieved)}
        arrays.update({f"x_{name}": np.asarray(v) for name, v in res.extras.items()})
        meta = {"schema": SCHEMA, "key": key, "sha256": _digest(arrays)}
        buf = io.BytesIO()
        np.savez_compressed(buf, __meta__=np.array(json.dumps(meta)), **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
