"""The image-codec interface of the conventional baseline: encode at a quality, decode, count bits, and the
quality search under a bit budget.

``quality`` is a codec-specific integer; :attr:`ImageCodec.qualities` lists the values the search may use,
ordered from the lowest to the highest quality (HEVC: QP 51 … 0). ``decode`` never raises: an unparseable
payload gives ``None`` (the receiver then falls back to a mean image).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kbsc.errors import ConfigError
from kbsc.util import Registry
from kbsc.util.hashing import hash_obj

__all__ = ["IMAGE_CODECS", "Encoded", "ImageCodec", "check_image", "get_codec"]


@dataclass(frozen=True)
class Encoded:
    """One encoded image: the bytes that are sent, their bit count, and the quality that made them."""

    payload: bytes
    bits: int
    quality: int


def check_image(image: Any) -> np.ndarray:
    """An image as uint8 ``[H, W, 3]`` or a ConfigError."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise ConfigError(f"an image must be uint8 [H, W, 3], got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


class ImageCodec(ABC):
    """Encode/decode one uint8 RGB image; subclasses are registered in :data:`IMAGE_CODECS`."""

    name: str = "codec"
    #: every quality the budget search may use, lowest quality first
    qualities: tuple[int, ...] = ()
    #: the quality value of the lossless mode, or None if the codec has none
    lossless_quality: int | None = None
    #: quality steps per doubling of the bits (rate model for the first probe of the budget search)
    steps_per_doubling: float | None = None

    @property
    def quality_range(self) -> tuple[int, int]:
        """(lowest, highest) quality of the search."""
        return self.qualities[0], self.qualities[-1]

    def settings(self) -> dict[str, Any]:
        """Everything that changes the payloads (goes into the cache fingerprint)."""
        return {"name": self.name}

    @property
    def fingerprint(self) -> str:
        return hash_obj(self.settings())[:16]

    @abstractmethod
    def encode(self, image: np.ndarray, quality: int) -> bytes:
        """image uint8 ``[H, W, 3]`` → the payload that is sent (exactly the counted bytes)."""

    @abstractmethod
    def decode(self, payload: bytes, shape: tuple[int, int, int]) -> np.ndarray | None:
        """payload → uint8 ``[H, W, 3]`` of ``shape``, or None when it cannot be parsed. Never raises."""

    def count_bits(self, payload: bytes) -> int:
        """Bits the payload costs on the link (8 per byte: the payload holds only counted bytes)."""
        return 8 * len(payload)

    def check_quality(self, quality: int) -> int:
        q = int(quality)
        if q not in self.qualities and q != self.lossless_quality:
            lo, hi = self.quality_range
            raise ConfigError(f"codec {self.name!r}: quality {quality} outside {lo} … {hi}")
        return q

    def encode_under_budget(
        self,
        image: np.ndarray,
        max_bits: int,
        encode: Callable[[np.ndarray, int], bytes] | None = None,
    ) -> Encoded | None:
        """The best quality whose payload fits ``max_bits``, or None when not even the lowest one fits.

        Bits grow with quality almost monotonically (x265 in constant-QP mode has rare steps of a few bytes
        the other way), so the search brackets the boundary: the first probe follows the codec's rate model
        (:attr:`steps_per_doubling`), then log-linear interpolation inside the bracket, with bisection
        whenever the bracket did not halve; finally the quality two steps above the boundary is tried too,
        which catches the usual small non-monotone step. About 5 encodings per image instead of 52.
        ``encode`` (default :meth:`encode`) lets a caller put a cache in front.
        """
        enc = encode or self.encode
        qs: Sequence[int] = self.qualities
        n = len(qs)
        sizes: dict[int, int] = {}

        def bits(i: int) -> int:
            if i not in sizes:
                sizes[i] = self.count_bits(enc(image, qs[i]))
            return sizes[i]

        if max_bits <= 0 or bits(0) > max_bits:
            return None
        lo, hi = 0, n  # qs[lo] fits; qs[hi] does not (hi = n: nothing above is known not to fit)
        step = self.steps_per_doubling

        def model_guess() -> int:
            if step is None:
                return n - 1
            return lo + max(1, int(round(np.log2(max_bits / bits(lo)) * step)))

        g = model_guess()
        width = n
        while hi - lo > 1:
            g = min(max(g, lo + 1), min(hi, n) - 1)
            if bits(g) <= max_bits:
                lo = g
            else:
                hi = g
            if hi - lo <= 1:
                break
            if hi - lo > width // 2:  # slow progress: bisect
                g = (lo + hi) // 2
            elif hi == n:
                g = model_guess()
            else:
                lb, hb = np.log(bits(lo)), np.log(bits(hi))
                t = (np.log(max_bits) - lb) / (hb - lb) if hb > lb else 0.5
                g = lo + int(round(t * (hi - lo)))
            width = hi - lo
        if lo + 2 < n and bits(lo + 2) <= max_bits:  # a small non-monotone step just above the boundary
            lo += 2
        payload = enc(image, qs[lo])
        return Encoded(payload=payload, bits=self.count_bits(payload), quality=int(qs[lo]))


IMAGE_CODECS: Registry[type[ImageCodec]] = Registry("image codec")


def get_codec(name: str, **options: Any) -> ImageCodec:
    """Instantiate image codec ``name`` (one of ``IMAGE_CODECS``)."""
    try:
        return IMAGE_CODECS.get(name)(**options)
    except TypeError as exc:
        raise ConfigError(f"image codec {name!r}: bad option(s): {exc}") from None


def safe_decode(fn: Callable[[], np.ndarray | None], shape: tuple[int, ...]) -> np.ndarray | None:
    """Run a decoder, turning any failure or a wrong shape into None."""
    try:
        out = fn()
    except Exception:  # noqa: BLE001 - a corrupt stream must never stop a run
        return None
    if out is None:
        return None
    out = np.asarray(out)
    if out.shape != tuple(shape) or out.dtype != np.uint8:
        return None
    return out
