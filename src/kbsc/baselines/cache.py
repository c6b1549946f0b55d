"""On-disk caches of the conventional baseline (DESIGN.md §7: each with a manifest of what made it).

* :class:`PayloadStore` — encoded payloads per (image content, codec settings, quality), so the quality search
  of a repeated sweep point does not re-run the encoder. ``<data dir>/baselines/payloads/<codec fp>/``.
* :class:`DecodedStore` — for a correctly received TB the decoded image depends only on (image, codec,
  quality): its features (from the extractor with this fingerprint), PSNR and MS-SSIM are kept per
  (extractor fp, codec fp, image content, quality).
  ``<data dir>/baselines/decoded/<extractor fp>-<codec fp>/``.

Images are keyed by a hash of their pixels (ids may repeat across datasets). Each image's entries live in
one small file, rewritten atomically by :meth:`flush`; a manifest mismatch is refused with the folder to
delete. Each file starts with a SHA-256 of its content (DESIGN.md §7: the hash of what is *used*), checked on
every read: a file that fails it (damaged, altered, or from an older kbsc) is a miss, recomputed and
rewritten, with one warning line per store.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from base64 import b64decode, b64encode
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.baselines.codecs import ImageCodec
from kbsc.util import atomic_write_bytes, check_manifest, hash_array, write_manifest
from kbsc.util.manifest import MANIFEST_NAME

__all__ = ["DecodedStore", "PayloadStore", "image_key"]


def image_key(image: np.ndarray) -> str:
    return hash_array(np.ascontiguousarray(image), n=20)


class _FileStore:
    """key → {quality → value}; values kept in memory, dirty keys written on flush."""

    suffix = ".json"

    def __init__(self, directory: Path | None, manifest: dict[str, Any], what: str) -> None:
        self.dir = directory
        self.what = what
        self.mem: dict[str, dict[int, Any]] = {}
        self.dirty: set[str] = set()
        self.n_rejected = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            if (directory / MANIFEST_NAME).exists():
                check_manifest(
                    directory, manifest, what, fix=f"delete {directory} (it is rebuilt on the next run)"
                )
            else:
                write_manifest(directory, manifest)

    def _load(self, key: str) -> dict[int, Any]:
        if key not in self.mem:
            entry: dict[int, Any] = {}
            if self.dir is not None:
                p = self.dir / key[:2] / (key + self.suffix)
                if p.exists():
                    try:
                        entry = self.read(_verified(p.read_bytes()))
                    except Exception:  # noqa: BLE001 - a damaged or altered cache file is recomputed
                        self._reject(p)
                        entry = {}
            self.mem[key] = entry
        return self.mem[key]

    def _reject(self, path: Path) -> None:
        self.n_rejected += 1
        self.dirty.add(path.stem)  # rewritten (with what is recomputed) on the next flush
        if self.n_rejected == 1:
            print(
                f"kbsc: warning: {self.what} file {path} failed its content check (damaged, altered or "
                "written by an older kbsc); its entries are recomputed",
                file=sys.stderr,
            )

    def get(self, key: str, quality: int) -> Any:
        return self._load(key).get(int(quality))

    def put(self, key: str, quality: int, value: Any) -> None:
        self._load(key)[int(quality)] = value
        self.dirty.add(key)

    def flush(self) -> None:
        if self.dir is not None:
            for key in sorted(self.dirty):
                p = self.dir / key[:2] / (key + self.suffix)
                p.parent.mkdir(exist_ok=True)
                atomic_write_bytes(p, _signed(self.write(self.mem[key])))
        self.dirty.clear()

    def read(self, data: bytes) -> dict[int, Any]:
        raise NotImplementedError

    def write(self, entry: dict[int, Any]) -> bytes:
        raise NotImplementedError


_MAGIC = b"kbsc-sha256:"


def _signed(body: bytes) -> bytes:
    """``kbsc-sha256:<hex digest of body>\\n`` + body: what a cache file holds."""
    return _MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def _verified(data: bytes) -> bytes:
    """The body of a cache file whose digest matches it; ValueError otherwise."""
    head, sep, body = data.partition(b"\n")
    if not sep or not head.startswith(_MAGIC):
        raise ValueError("no content digest")
    if head[len(_MAGIC) :].decode("ascii", "replace") != hashlib.sha256(body).hexdigest():
        raise ValueError("content digest mismatch")
    return body


class PayloadStore(_FileStore):
    """Cached ``codec.encode`` results; :meth:`encode_under_budget` searches qualities through the cache."""

    def __init__(self, codec: ImageCodec, root: Path | None) -> None:
        self.codec = codec
        manifest = {"kind": "payloads", "codec": codec.settings()}
        super().__init__(
            None if root is None else Path(root) / "payloads" / codec.fingerprint, manifest, "payload cache"
        )

    def read(self, data: bytes) -> dict[int, Any]:
        return {int(q): b64decode(v) for q, v in json.loads(data).items()}

    def write(self, entry: dict[int, Any]) -> bytes:
        return json.dumps({str(q): b64encode(v).decode() for q, v in sorted(entry.items())}).encode()

    def encode(self, image: np.ndarray, quality: int, key: str | None = None) -> bytes:
        key = key or image_key(image)
        hit = self.get(key, quality)
        if hit is None:
            hit = self.codec.encode(image, quality)
            self.put(key, quality, hit)
        return hit

    def encode_under_budget(self, image: np.ndarray, max_bits: int, key: str | None = None):
        key = key or image_key(image)
        return self.codec.encode_under_budget(image, max_bits, encode=lambda im, q: self.encode(im, q, key))


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
