"""The receiver's knowledge base: labelled L2-normalized features behind a FAISS index, saved with a manifest.

Saved layout (one directory, written atomically: built in a temporary sibling, then renamed)::

    index.faiss     faiss.write_index of the CPU index
    features.npy    float32 [M, D]    labels.npy int64 [M]    ids.npy int64 [M]
    manifest.json   the caller's manifest + index kind/options, sizes, content hash and file hashes

The content hash covers everything a search uses: features, labels, ids, index kind/options and the
serialized FAISS index itself (DESIGN.md §7). On load the index must moreover hold exactly the saved
features (its stored vectors are compared with ``features.npy``), so an index rebuilt from other or shuffled
features is refused even if the manifest's hashes were rewritten to match it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.errors import DataError
from kbsc.kb.index import apply_search_options, build_index, search_index, search_ordered
from kbsc.util import check_manifest, hash_array, hash_file, hash_obj, read_manifest, write_manifest
from kbsc.util.faiss_import import import_faiss

faiss = import_faiss()

__all__ = ["KB_FORMAT", "KnowledgeBase"]

KB_FORMAT = 2  # 2: the content hash covers the serialized index
FILES = ("index.faiss", "features.npy", "labels.npy", "ids.npy")
NORM_TOLERANCE = 1e-3


def _as_float32_matrix(x: Any, what: str) -> np.ndarray:
    """float32 C-contiguous ``[N, D]`` from a numpy array, array-like or torch tensor."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-d array [N, D], got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _index_vectors(index: Any) -> np.ndarray:
    """float32 ``[ntotal, d]``: the vectors stored in a flat, HNSW or IVF-flat index, in id order."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        index = faiss.clone_index(index)  # the direct map below would change the (hashed) original
        faiss.extract_index_ivf(index).make_direct_map()
    return index.reconstruct_n(0, index.ntotal)


class KnowledgeBase:
    """Labelled features with top-k inner-product search.

    features: float32 ``[M, D]`` L2-normalized rows (the receiver half's extracted features)
    labels:   int64 ``[M]`` class of each entry
    index:    ``flat`` (exact, default), ``ivf`` (nlist, nprobe) or ``hnsw`` (M, efSearch, efConstruction)
    ids:      int64 ``[M]`` image ids of the entries (default 0..M-1)
    """

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        index: str = "flat",
        ids: np.ndarray | None = None,
        **index_opts: Any,
    ) -> None:
        feats = _as_float32_matrix(features, "knowledge-base features")
        m = feats.shape[0]
        if m == 0:
            raise ValueError("a knowledge base needs at least one entry")
        if not np.isfinite(feats).all():
            raise ValueError("knowledge-base features contain NaN or infinite values")
        norms = np.linalg.norm(feats, axis=1)
        if np.abs(norms - 1).max() > NORM_TOLERANCE:
            raise ValueError(
                "knowledge-base features must be L2-normalized rows "
                f"(norms range {norms.min():.4g}..{norms.max():.4g}); divide each row by its norm first"
            )
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != m:
            raise ValueError(f"{m} feature rows but {labels.shape[0]} labels")
        ids = np.arange(m, dtype=np.int64) if ids is None else np.asarray(ids).reshape(-1)
        if ids.shape[0] != m:
            raise ValueError(f"{m} feature rows but {ids.shape[0]} ids")
        self.features = feats
        self.labels = labels.astype(np.int64)
        self.ids = ids.astype(np.int64)
        self.index_kind = index
        self._cpu_index, self.index_options = build_index(index, feats, **index_opts)
        self._search_index = search_index(self._cpu_index)

    # ------------------------------------------------------------------ queries
    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def content_hash(self) -> str:
        """Hash of features, labels, ids, index kind/options and the serialized index: what the saved
        manifest records."""
        parts = [hash_array(a, 32) for a in (self.features, self.labels, self.ids)]
        index_bytes = hash_array(faiss.serialize_index(self._cpu_index), 32)
        return hash_obj([*parts, self.index_kind, self.index_options, index_bytes], 32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` entries by inner product.

        queries: ``[N, D]`` (float32/float64 numpy or a torch tensor)
        returns: scores float32 ``[N, k]`` (best first; exactly equal scores by row number, ascending: the
                 tie rule of :mod:`kbsc.kb.index`), idx int64 ``[N, k]`` row numbers into the knowledge
                 base; when k exceeds its size the missing places hold idx -1 and score -inf.
        """
        q = _as_float32_matrix(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(
                f"queries have dimension {q.shape[1]} but the knowledge base holds {self.dim}-d features "
                "(was it built with a different extractor?)"
            )
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if q.shape[0] == 0:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        if not np.isfinite(q).all():
            raise ValueError("queries contain NaN or infinite values")
        scores, idx = search_ordered(self._search_index, q, k, len(self), exact=self.index_kind == "flat")
        return scores.astype(np.float32, copy=False), idx.astype(np.int64, copy=False)

    def retrieve_labels(self, queries: np.ndarray, k: int = 5) -> np.ndarray:
        """Labels of the top-``k`` entries, int64 ``[N, k]``; -1 where nothing was found."""
        _, idx = self.search(queries, k)
        out = np.full(idx.shape, -1, dtype=np.int64)
        found = idx >= 0
        out[found] = self.labels[idx[found]]
        return out

    def retrieve_ids(self, queries: np.ndarray, k: int = 1) -> np.ndarray:
        """Image ids of the top-``k`` entries, int64 ``[N, k]``; -1 where nothing was found."""
        _, idx = self.search(queries, k)
        out = np.full(idx.shape, -1, dtype=np.int64)
        found = idx >= 0
        out[found] = self.ids[idx[found]]
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
        """Write the knowledge base to ``directory`` (replacing it atomically) with ``manifest`` merged in."""
        directory = Path(directory)
        own = {
            "kind": "knowledge-base",
            "format": KB_FORMAT,
            "index": self.index_kind,
            "index_options": dict(self.index_options),
            "n": len(self),
            "dim": self.dim,
            "content_hash": self.content_hash,
        }
        clash = [k for k in own if k in manifest and manifest[k] != own[k]]
        if clash:
            raise ValueError(
                "manifest entries "
                + ", ".join(f"{k}={manifest[k]!r}" for k in clash)
                + " contradict the knowledge base ("
                + ", ".join(f"{k}={own[k]!r}" for k in clash)
                + ")"
            )
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
        try:
            faiss.write_index(self._cpu_index, str(tmp / "index.faiss"))
            np.save(tmp / "features.npy", self.features)
            np.save(tmp / "labels.npy", self.labels)
            np.save(tmp / "ids.npy", self.ids)
            files = {name: hash_file(tmp / name, 32) for name in FILES}
            write_manifest(tmp, {**manifest, **own, "files": files})
            for name in (*FILES, "manifest.json"):
                with open(tmp / name, "rb") as fh:
                    os.fsync(fh.fileno())
            old = None
            if directory.exists():
                old = directory.with_name(f".{directory.name}.{os.getpid()}.old")
                os.replace(directory, old)
            os.replace(tmp, directory)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str], expected: dict[str, Any] | None = None) -> KnowledgeBase:
        """Load a saved knowledge base; refuse (``DataError``) a missing, corrupt or mismatched one.

        expected: manifest entries the saved one must match (e.g. dataset, extractor fingerprint, split seed).
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise DataError(f"no knowledge base at {directory}; build one with `kbsc prepare`")
        if not (directory / "manifest.json").is_file():
            raise DataError(
                f"knowledge base at {directory} has no manifest.json; delete the folder and rebuild it "
                "with `kbsc prepare`"
            )
        stored = (
            check_manifest(directory, expected, "knowledge base") if expected else read_manifest(directory)
        )
        if stored.get("kind") != "knowledge-base" or stored.get("format") != KB_FORMAT:
            raise DataError(
                f"{directory} is not a knowledge base of format {KB_FORMAT} "
                f"(manifest kind={stored.get('kind')!r}, format={stored.get('format')!r}); "
                "rebuild it with `kbsc prepare --force`"
            )
        files = stored.get("files") or {}
        for name in FILES:
            path = directory / name
            if not path.is_file() or hash_file(path, 32) != files.get(name):
                raise DataError(
                    f"knowledge base at {directory} is corrupt ({name} missing or changed since it was "
                    "saved); rebuild it with `kbsc prepare --force`"
                )
        try:
            features = np.load(directory / "features.npy", allow_pickle=False)
            labels = np.load(directory / "labels.npy", allow_pickle=False)
            ids = np.load(directory / "ids.npy", allow_pickle=False)
            index = faiss.read_index(str(directory / "index.faiss"))
        except (OSError, ValueError, RuntimeError) as exc:
            raise DataError(f"knowledge base at {directory} cannot be read ({exc}); rebuild it") from None
        kb = cls.__new__(cls)
        kb.features = np.ascontiguousarray(features, dtype=np.float32)
        kb.labels = labels.astype(np.int64)
        kb.ids = ids.astype(np.int64)
        kb.index_kind = str(stored["index"])
        kb.index_options = dict(stored.get("index_options") or {})
        if index.ntotal != len(kb.labels) or index.d != kb.features.shape[1] or len(kb.ids) != len(kb.labels):
            raise DataError(f"knowledge base at {directory} is inconsistent (index/labels/ids sizes differ)")
        apply_search_options(index, kb.index_kind, kb.index_options)
        kb._cpu_index = index
        kb._search_index = search_index(index)
        if kb.content_hash != stored.get("content_hash"):
            raise DataError(
                f"knowledge base at {directory} does not match its manifest's content hash; rebuild it "
                "with `kbsc prepare --force`"
            )
        if not np.array_equal(_index_vectors(index), kb.features):
            raise DataError(
                f"knowledge base at {directory}: index.faiss does not hold the saved features (altered or "
                "built from other features); rebuild it with `kbsc prepare --force`"
            )
        return kb

    def __repr__(self) -> str:
        return (
            f"KnowledgeBase(n={len(self)}, dim={self.dim}, index={self.index_kind!r}, {self.index_options})"
        )
