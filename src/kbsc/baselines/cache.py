"""On-disk caches of the conventional baseline (docs/design.md §7: each with a manifest of what made it).

* :class:`PayloadStore` — encoded payloads per (image content, codec settings, quality), so the quality search
  of a repeated sweep point does not re-run the encoder. ``<data dir>/baselines/payloads/<codec fp>/``.
* :class:`DecodedStore` — for a correctly received TB the decoded image depends only on (image, codec,
  quality): its features (from the extractor with this fingerprint), PSNR and MS-SSIM are kept per
  (extractor fp, codec fp, image content, quality).
  ``<data dir>/baselines/decoded/<extractor fp>-<codec fp>/``.

Images are keyed by a hash of their pixels (ids may repeat across datasets). Each image's entries live in
one small file, rewritten atomically; a manifest mismatch is refused with the folder to delete.

**Shared by workers.** Every write of an image's file happens under a lock (one of 256 lock files,
``.locks/<first two hex digits of the key>.lock``, so an image always takes the same one) and merges what
is on disk first: two workers filling the same image never lose each other's entries. The payload cache
goes further: a quality search holds its image's lock from reading the file to writing back what it
encoded, so every (image, quality) is encoded at most once per data directory, whichever worker, cell or
budget asks first (:attr:`PayloadStore.n_encoded` counts the encoder calls of one store).

Each file starts with a SHA-256 of its content (docs/design.md §7: the hash of what is *used*), checked on
every read: a file that fails it (damaged, altered, or from an older kbsc) is a miss, recomputed and
rewritten, with one warning line per store.
"""

from __future__ import annotations

import io
import json
import sys
from base64 import b64decode, b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from kbsc.baselines.codecs import Encoded, ImageCodec
from kbsc.util import atomic_write_bytes, check_manifest, hash_array, write_manifest
from kbsc.util.manifest import MANIFEST_NAME
from kbsc.util.signed import sign, verified

__all__ = ["DecodedStore", "PayloadStore", "image_key"]


def image_key(image: np.ndarray) -> str:
    return hash_array(np.ascontiguousarray(image), n=20)


class _Miss(Exception):
    """A quality search needed an entry that is not in memory (it then runs again under the lock)."""


class _FileStore:
    """key → {quality → value}; values kept in memory, dirty keys written on flush."""

    suffix = ".json"

    def __init__(self, directory: Path | None, manifest: dict[str, Any], what: str) -> None:
        self.dir = directory
        self.what = what
        self.mem: dict[str, dict[int, Any]] = {}
        self.dirty: set[str] = set()
        self.n_rejected = 0
        self._n_reported = 0
        self._locks: dict[str, FileLock] = {}
        #: (inode, size, mtime) of each key's file when it was last read or written here
        self._stamps: dict[str, tuple[int, int, int] | None] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            if (directory / MANIFEST_NAME).exists():
                check_manifest(
                    directory, manifest, what, fix=f"delete {directory} (it is rebuilt on the next run)"
                )
            else:
                write_manifest(directory, manifest)

    def _path(self, key: str) -> Path:
        assert self.dir is not None
        return self.dir / key[:2] / (key + self.suffix)

    @contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Hold the lock of ``key``'s file (no-op without a folder)."""
        if self.dir is None:
            yield
            return
        stripe = key[:2]
        if stripe not in self._locks:
            (self.dir / ".locks").mkdir(exist_ok=True)
            self._locks[stripe] = FileLock(str(self.dir / ".locks" / f"{stripe}.lock"))
        with self._locks[stripe]:
            yield

    def _stamp(self, key: str) -> tuple[int, int, int] | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read_disk(self, key: str) -> dict[int, Any]:
        """The verified entries of ``key``'s file: {} when absent or when it fails its check (reported)."""
        p = self._path(key)
        self._stamps[key] = self._stamp(key)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return self.read(_verified(data))
        except Exception:  # noqa: BLE001 - a damaged or altered cache file is recomputed
            self._reject(p)
            return {}

    def _load(self, key: str) -> dict[int, Any]:
        if key not in self.mem:
            self.mem[key] = {} if self.dir is None else self._read_disk(key)
        return self.mem[key]

    def refresh(self, key: str) -> dict[int, Any]:
        """``key``'s entries with what other processes wrote since they were read added."""
        entry = self._load(key)
        if self.dir is not None and self._stamps.get(key) != self._stamp(key):  # changed since read
            for q, v in self._read_disk(key).items():
                entry.setdefault(q, v)
        return entry

    def _write(self, key: str) -> None:
        """Merge the file's entries into memory and write the union (caller holds the key's lock)."""
        entry = self.refresh(key)
        # no fsync: every read checks the file's digest, so one cut short by a crash is a miss, not an
        # error, and the fsync (2.5 ms per file here, half an x265 call) is not worth paying on every search
        atomic_write_bytes(self._path(key), _signed(self.write(entry)), fsync=False)
        self._stamps[key] = self._stamp(key)
        self.dirty.discard(key)

    #: damaged files named one by one; past these, one summary line at the next flush
    WARN_EACH = 3

    def _reject(self, path: Path) -> None:
        self.n_rejected += 1
        self.dirty.add(path.stem)  # rewritten (with what is recomputed) on the next flush
        if self.n_rejected <= self.WARN_EACH:
            print(
                f"kbsc: warning: {self.what} file {path} failed its content check (damaged, altered or "
                "written by an older kbsc); its entries are recomputed",
                file=sys.stderr,
            )

    def _summarise_rejects(self) -> None:
        """One line for the damaged files not named one by one (each flush reports the new ones)."""
        unreported = self.n_rejected - max(self.WARN_EACH, self._n_reported)
        if unreported > 0:
            print(
                f"kbsc: warning: {unreported} more {self.what} file(s) under {self.dir} failed their content "
                f"check ({self.n_rejected} in all); their entries are recomputed",
                file=sys.stderr,
            )
        self._n_reported = max(self.n_rejected, self.WARN_EACH)

    def get(self, key: str, quality: int) -> Any:
        return self._load(key).get(int(quality))

    def put(self, key: str, quality: int, value: Any) -> None:
        self._load(key)[int(quality)] = value
        self.dirty.add(key)

    def flush(self) -> None:
        self._summarise_rejects()
        if self.dir is not None:
            for key in sorted(self.dirty):
                with self.locked(key):
                    self._write(key)
        self.dirty.clear()

    def read(self, data: bytes) -> dict[int, Any]:
        raise NotImplementedError

    def write(self, entry: dict[int, Any]) -> bytes:
        raise NotImplementedError


# the signed-file format moved to kbsc.util.signed (training checkpoints use it too)
_signed = sign
_verified = verified


class PayloadStore(_FileStore):
    """Cached ``codec.encode`` results; :meth:`encode_under_budget` searches qualities through the cache."""

    def __init__(self, codec: ImageCodec, root: Path | None) -> None:
        self.codec = codec
        #: encoder calls made by this store (cache misses)
        self.n_encoded = 0
        manifest = {"kind": "payloads", "codec": codec.settings()}
        super().__init__(
            None if root is None else Path(root) / "payloads" / codec.fingerprint, manifest, "payload cache"
        )

    def read(self, data: bytes) -> dict[int, Any]:
        return {int(q): b64decode(v) for q, v in json.loads(data).items()}

    def write(self, entry: dict[int, Any]) -> bytes:
        return json.dumps({str(q): b64encode(v).decode() for q, v in sorted(entry.items())}).encode()

    def _encode(self, image: np.ndarray, quality: int, key: str) -> bytes:
        """The payload from memory, else from the encoder (counted); caller holds the key's lock."""
        hit = self.get(key, quality)
        if hit is None:
            hit = self.codec.encode(image, quality)
            self.n_encoded += 1
            self.put(key, quality, hit)
        return hit

    @contextmanager
    def _session(self, key: str) -> Iterator[None]:
        """Lock ``key``, take in what other workers stored, write back what was encoded meanwhile."""
        with self.locked(key):
            self.refresh(key)
            yield
            if key in self.dirty and self.dir is not None:
                self._write(key)

    def encode(self, image: np.ndarray, quality: int, key: str | None = None) -> bytes:
        key = key or image_key(image)
        if self.get(key, quality) is not None:
            return self.get(key, quality)
        with self._session(key):
            return self._encode(image, quality, key)

    def _from_memory(self, image: np.ndarray, quality: int, key: str) -> bytes:
        hit = self.get(key, quality)
        if hit is None:
            raise _Miss
        return hit

    def encode_under_budget(self, image: np.ndarray, max_bits: int, key: str | None = None) -> Encoded | None:
        """:meth:`ImageCodec.encode_under_budget` (same probes, same choice) served from the cache: first
        from memory alone (no lock, no file access); at the first missing quality, again under the lock."""
        key = key or image_key(image)
        try:
            return self.codec.encode_under_budget(
                image, max_bits, encode=lambda im, q: self._from_memory(im, q, key)
            )
        except _Miss:
            pass
        with self._session(key):
            return self.codec.encode_under_budget(
                image, max_bits, encode=lambda im, q: self._encode(im, q, key)
            )

    def sizes(self, key: str) -> dict[int, int]:
        """quality → bits of the payloads stored for image ``key`` (the per-image rate table)."""
        return {q: self.codec.count_bits(v) for q, v in sorted(self._load(key).items())}


class DecodedStore(_FileStore):
    """Per (image, quality): float32 ``[D + 2]`` = features of the decoded image, PSNR, MS-SSIM."""

    suffix = ".npz"

    def __init__(self, codec: ImageCodec, extractor_fp: str, root: Path | None) -> None:
        manifest = {"kind": "decoded", "codec": codec.settings(), "extractor": extractor_fp}
        d = None if root is None else Path(root) / "decoded" / f"{extractor_fp}-{codec.fingerprint}"
        super().__init__(d, manifest, "decoded-image cache")

    def read(self, data: bytes) -> dict[int, Any]:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {int(k[1:]): z[k] for k in z.files}

    def write(self, entry: dict[int, Any]) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **{f"q{q}": np.asarray(v, dtype=np.float32) for q, v in entry.items()})
        return buf.getvalue()
