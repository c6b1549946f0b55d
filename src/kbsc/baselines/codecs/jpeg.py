"""Baseline JPEG through Pillow (libjpeg), 4:4:4, standard Huffman tables: a cheap reference codec.

**Bit accounting** (same rule as HEVC: send only what is not fixed by the configuration). The JPEG headers
(JFIF APP0, quantisation tables, frame header, standard Huffman tables, scan header; ~620 bytes at 32×32)
are a pure function of (size, quality), so the receiver rebuilds them from the quality. What is counted and
sent::

    payload = format byte 0xC0 ‖ quality byte ‖ uint16 length ‖ entropy-coded scan data (EOI dropped)

i.e. 4 bytes of header plus the scan data. No lossless mode (Pillow's JPEG has none).
"""

from __future__ import annotations

import io
import struct
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from kbsc.baselines.codecs.base import IMAGE_CODECS, ImageCodec, check_image, safe_decode
from kbsc.errors import DataError

__all__ = ["JpegCodec"]

FORMAT_TAG = 0xC0


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(
        buf, format="JPEG", quality=int(quality), subsampling=0, optimize=False
    )
    return buf.getvalue()


def _split(data: bytes) -> tuple[bytes, bytes]:
    """(headers through the scan header, entropy-coded data without EOI)."""
    p = 2
    while p + 4 <= len(data):
        if data[p] != 0xFF:
            raise DataError("malformed JPEG marker stream")
        marker = data[p + 1]
        (length,) = struct.unpack(">H", data[p + 2 : p + 4])
        if marker == 0xDA:  # start of scan
            end = p + 2 + length
            body = data[end:]
            if body.endswith(b"\xff\xd9"):
                body = body[:-2]
            return data[:end], body
        p += 2 + length
    raise DataError("no scan in the JPEG")


@lru_cache(maxsize=512)
def _header(h: int, w: int, quality: int) -> bytes:
    return _split(_jpeg(np.full((h, w, 3), 128, dtype=np.uint8), quality))[0]


@IMAGE_CODECS.register("jpeg")
class JpegCodec(ImageCodec):
    """JPEG baseline 4:4:4, qualities 1 … 100."""

    name = "jpeg"
    qualities = tuple(range(1, 101))
    steps_per_doubling = 25.0

    def settings(self) -> dict[str, Any]:
        from PIL import features

        return {"name": self.name, "libjpeg": features.version("jpg"), "format": 1}

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        image = check_image(image)
        quality = self.check_quality(quality)
        head, body = _split(_jpeg(image, quality))
        if head != _header(image.shape[0], image.shape[1], quality):
            raise DataError(
                "the JPEG headers differ from the fixed template; the bit accounting would be wrong"
            )
        if len(body) > 0xFFFF:
            raise DataError("JPEG scan longer than 65535 bytes; images this large are not supported")
        return bytes([FORMAT_TAG, quality]) + struct.pack(">H", len(body)) + body

    def decode(self, payload: bytes, shape: tuple[int, int, int]) -> np.ndarray | None:
        def run() -> np.ndarray | None:
            data = bytes(payload)
            if len(data) < 5 or data[0] != FORMAT_TAG or not 1 <= data[1] <= 100:
                return None
            (n,) = struct.unpack(">H", data[2:4])
            body = data[4 : 4 + n]
            with Image.open(io.BytesIO(_header(shape[0], shape[1], data[1]) + body + b"\xff\xd9")) as im:
                im.load()
                return np.asarray(im.convert("RGB"))

        return safe_decode(run, tuple(shape))
