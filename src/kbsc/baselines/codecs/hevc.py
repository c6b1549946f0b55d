"""HEVC intra (BPG-class) through pillow-heif's bundled x265 encoder and libde265 decoder.

**Bit accounting.** pillow-heif writes a HEIF file: a container (``ftyp``/``meta`` boxes, ~420 bytes at
32×32), the parameter sets VPS/SPS/PPS (in ``hvcC``) and the coded slice NAL unit(s) in ``mdat``. A BPG file
carries none of the HEIF container. The parameter sets are a pure function of (image size, codec settings,
mode): they do not change with the QP in constant-QP mode (checked on every encode), so both ends know them
and they are not sent. What is counted and sent is::

    payload = format byte (0xB0 | mode) ‖ for each slice NAL unit: uint16 length ‖ NAL unit bytes

i.e. the slice data (2-byte NAL header + slice header + CABAC data) plus 3 bytes of BPG-style header for the
usual single slice (BPG's own header is ~9 bytes plus compressed parameter sets; ours omits the magic,
the size fields and the parameter sets that the experiment fixes). The receiver rebuilds a decodable HEIF from
the fixed template of its (size, mode) and the received NAL units.

**Quality.** Constant QP (``x265:qp``), every QP from 51 (lowest quality) to 0; 4:4:4 chroma, 8 bit,
BT.601 full-range YCbCr as libheif writes by default (as BPG's default). ``quality = -1`` is the lossless mode
(x265 lossless, identity colour matrix so RGB round-trips exactly); the budget search does not use it.
The x265 preset is libheif's default ``slow`` (option ``preset``); ``x265:pools=none``
keeps the encoder single-threaded.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np

from kbsc.baselines.codecs.base import IMAGE_CODECS, ImageCodec, check_image, safe_decode
from kbsc.baselines.codecs.heif_box import HeifTemplate, mdat_nal_units
from kbsc.errors import ConfigError, DataError

__all__ = ["HEADER_BYTES", "HevcCodec"]

MODE_QP, MODE_LOSSLESS = 0, 1
FORMAT_TAG = 0xB0
#: header bytes per image with one slice: format byte + uint16 slice length
HEADER_BYTES = 3


def _pillow_heif() -> Any:
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConfigError("the hevc codec needs pillow-heif; install it (pip install pillow-heif)") from None
    return pillow_heif


@IMAGE_CODECS.register("hevc")
class HevcCodec(ImageCodec):
    """HEVC intra 4:4:4 8-bit, constant QP; see the module docstring for what is counted."""

    name = "hevc"
    qualities = tuple(range(51, -1, -1))
    lossless_quality = -1
    steps_per_doubling = 7.0

    def __init__(self, preset: str = "slow", chroma: str = "444") -> None:
        if chroma not in ("444", "420"):
            raise ConfigError(f"hevc chroma must be '444' or '420', got {chroma!r}")
        self.preset = str(preset)
        self.chroma = chroma
        self._templates: dict[tuple[int, int, int], HeifTemplate] = {}

    def settings(self) -> dict[str, Any]:
        ph = _pillow_heif()
        return {
            "name": self.name,
            "preset": self.preset,
            "chroma": self.chroma,
            "libheif": ph.libheif_version(),
            "x265": ph.libheif_info().get("HEIF", ""),
            "format": 1,
        }

    # ------------------------------------------------------------------------------------------ HEIF
    def _heif(self, image: np.ndarray, quality: int) -> bytes:
        ph = _pillow_heif()
        h, w, _ = image.shape
        params = {"x265:pools": "none", "preset": self.preset}
        kw: dict[str, Any] = {"chroma": self.chroma}
        if quality == self.lossless_quality:
            kw.update(quality=-1, chroma="444", matrix_coefficients=0)
        else:
            kw["quality"] = 50  # replaced by the constant QP below
            params["x265:qp"] = str(int(quality))
        heif = ph.from_bytes(mode="RGB", size=(w, h), data=image.tobytes())
        buf = io.BytesIO()
        heif.save(buf, format="HEIF", enc_params=params, **kw)
        return buf.getvalue()

    def template(self, shape: tuple[int, int, int], mode: int) -> HeifTemplate:
        """The fixed container + parameter sets of images of ``shape`` in ``mode`` (both ends compute it)."""
        key = (int(shape[0]), int(shape[1]), int(mode))
        if key not in self._templates:
            grey = np.full((key[0], key[1], 3), 128, dtype=np.uint8)
            q = self.lossless_quality if mode == MODE_LOSSLESS else 30
            self._templates[key] = HeifTemplate.from_file(self._heif(grey, q))
        return self._templates[key]

    # ---------------------------------------------------------------------------------- interface
    def encode(self, image: np.ndarray, quality: int) -> bytes:
        image = check_image(image)
        quality = self.check_quality(quality)
        mode = MODE_LOSSLESS if quality == self.lossless_quality else MODE_QP
        data = self._heif(image, quality)
        tpl = self.template(image.shape, mode)
        if HeifTemplate.from_file(data).hvcc != tpl.hvcc:
            raise DataError(
                "x265 produced parameter sets that differ from the fixed template; the bit accounting "
                "(parameter sets known to both ends) would be wrong"
            )
        nals = mdat_nal_units(data)
        if any(len(n) > 0xFFFF for n in nals):
            raise DataError(
                "a slice NAL unit is longer than 65535 bytes; images this large are not supported"
            )
        return bytes([FORMAT_TAG | mode]) + b"".join(struct.pack(">H", len(n)) + n for n in nals)

    @staticmethod
    def parse(payload: bytes) -> tuple[int, list[bytes]] | None:
        """(mode, NAL units) of a payload, or None. A length running past the end is cut at the end (what a
        receiver does with a damaged length field)."""
        if len(payload) < 1 + 2 + 2 or payload[0] >> 4 != FORMAT_TAG >> 4:
            return None
        mode = payload[0] & 15
        if mode not in (MODE_QP, MODE_LOSSLESS):
            return None
        nals, p = [], 1
        while p + 2 < len(payload):
            (n,) = struct.unpack(">H", payload[p : p + 2])
            nal = payload[p + 2 : p + 2 + n]
            if len(nal) < 2:
                break
            nals.append(nal)
            p += 2 + n
        return (mode, nals) if nals else None

    def decode(self, payload: bytes, shape: tuple[int, int, int]) -> np.ndarray | None:
        def run() -> np.ndarray | None:
            parsed = self.parse(bytes(payload))
            if parsed is None:
                return None
            mode, nals = parsed
            data = self.template(shape, mode).build(nals)
            ph = _pillow_heif()
            img = ph.open_heif(data, convert_hdr_to_8bit=True)
            return np.asarray(img.to_pillow().convert("RGB"))

        return safe_decode(run, tuple(shape))
